# nkd_include_root(target folder): gives `target` an include root that holds only the source folder
# `folder` (build/include/<folder>/<folder>, a link to the sources), PUBLIC so that the targets that
# link it see it too. The repository root is no include folder of any library, so a library that
# includes a header of one it does not link (engine including "layers/...") fails to compile; the
# layering test (tests/test_layering.py) states the same rule from the includes.
function(nkd_include_root target folder)
  set(root ${PROJECT_BINARY_DIR}/include/${folder})
  if(NOT IS_SYMLINK ${root}/${folder})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC ${root})
endfunction()
