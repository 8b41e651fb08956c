# nkd_set_warnings(target): the project's warning set for C++ (and host code of CUDA files).
function(nkd_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-unknown-pragmas
      -Wno-missing-field-initializers>  # designated initialisers (the house style for options) omit fields on purpose
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
endfunction()
