# Include directories scoped per library (docs/architecture.md, "Layers").
#
# Every #include names a header by its path from the source root
# ("common/base/flags.h"), but no target sees the whole source root. Each
# library gets a folder of its own under build/include/ holding one symbolic
# link, to its own source folder, and exports only that folder: a file can
# include a header only of its own library or of one it links (a PRIVATE
# link: its sources only; a PUBLIC one: its users too). The include-rule test
# (tests/layering/check_includes.py) checks the same edges against the table
# in docs/architecture.md, naming file and line.

# tcobench_library(NAME DIR [STATIC|INTERFACE] SOURCES...): a library for the
# source folder DIR (relative to the source root).
function(tcobench_library name dir)
  set(kind STATIC)
  set(sources ${ARGN})
  if(sources)
    list(GET sources 0 first)
    if(first STREQUAL "INTERFACE" OR first STREQUAL "STATIC")
      set(kind ${first})
      list(REMOVE_AT sources 0)
    endif()
  endif()
  add_library(${name} ${kind} ${sources})
  set(root ${CMAKE_BINARY_DIR}/include/${name})
  get_filename_component(parent ${root}/${dir} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  if(NOT EXISTS ${root}/${dir})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${dir} ${root}/${dir} SYMBOLIC)
  endif()
  if(kind STREQUAL "INTERFACE")
    target_include_directories(${name} INTERFACE ${root})
  else()
    target_include_directories(${name} PUBLIC ${root})
  endif()
endfunction()
