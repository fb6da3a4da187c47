# cmake -DIN=FILE -DOUT=FILE.cpp -DNAME=symbol -P embed_file.cmake
# Writes a C++ source defining `const char NAME[]` (the bytes of IN, plus a NUL not counted)
# and `const std::size_t NAME_size`, in namespace uringmig::engine::observe::embedded.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
# One line of source per line of the file.
string(REPLACE "'\\x0a'," "'\\x0a',\n" bytes "${bytes}")
file(WRITE ${OUT}.tmp
  "// Generated from ${IN} by embed_file.cmake: edit that file, not this one.\n"
  "#include <cstddef>\n"
  "namespace uringmig::engine::observe::embedded {\n"
  "extern const char ${NAME}[];\n"
  "extern const std::size_t ${NAME}_size;\n"
  "const char ${NAME}[] = {\n${bytes}'\\0'};\n"
  "const std::size_t ${NAME}_size = ${size};\n"
  "}  // namespace uringmig::engine::observe::embedded\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
