# The compiler flags of every build of this code: the repository's (CMakeLists.txt) and the copy
# that `make exercise` writes (scripts/exercise.py), so that both compile common/ alike.
# Reads PROGRESSIVE_WERROR (ON or OFF) and PROGRESSIVE_SANITIZE ('address', 'thread' or empty).

add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(PROGRESSIVE_WERROR)
  add_compile_options(-Werror)
endif()

if(PROGRESSIVE_SANITIZE STREQUAL "address")
  # Without UBSan's vptr check: to read an object's vtable it opens a pipe, so in a server out of
  # descriptors (the EMFILE tests) every virtual call looks like one on an invalid object.
  set(sanitizer_flags -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
elseif(PROGRESSIVE_SANITIZE STREQUAL "thread")
  set(sanitizer_flags -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT PROGRESSIVE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "PROGRESSIVE_SANITIZE must be 'address', 'thread' or empty")
endif()
add_compile_options(${sanitizer_flags})
add_link_options(${sanitizer_flags})
