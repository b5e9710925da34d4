# The compiler flags of every build of this code: the repository's (CMakeLists.txt) and the copy
# that `make exercise` writes (scripts/exercise.py), so that both compile common/ alike.
# Reads PROGRESSIVE_WERROR (ON or OFF) and PROGRESSIVE_SANITIZE ('address', 'thread' or empty).

add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # g++ 12 at -O2 and -O3 reports a -Wrestrict overlap inside std::string's own code for every
  # "literal" + std::string (GCC bug 105329, fixed in 13): a false warning, off for g++ 12 only.
  add_compile_options(-Wno-restrict)
endif()
# Warnings are errors for the project's own builds (make and CI pass PROGRESSIVE_WERROR=ON), not
# for someone who only builds the code with another compiler, whose new warnings must not stop it.
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
