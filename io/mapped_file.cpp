// Read-only memory maps of checkpoint files (see mapped_file.h).
#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/check.h"

namespace nkd::io {

MappedFile::MappedFile(const std::string& path, const std::string& label) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  NKD_CHECK(fd >= 0, label, ": cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    NKD_FAIL(label, ": cannot stat ", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    NKD_FAIL(label, ": ", path, " is not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) {
    ::close(fd);
    return;
  }
  void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  NKD_CHECK(map != MAP_FAILED, label, ": cannot map ", path, ": ", std::strerror(err));
  data_ = static_cast<const uint8_t*>(map);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace nkd::io
