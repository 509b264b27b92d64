# The layers of docs/architecture.md, enforced by the compiler: arrows point down only.
#
# Every header is included by its folder ("core/tensor.h"), so a target that had the source root
# on its include path could include any layer's headers, above it or not. Instead each layer's
# target gets an include directory of its own in the build tree that holds one link, named after
# the folder, to that folder; the layers below come in through target_link_libraries. A header of
# a layer above is then not on the include path at all, and including one fails to compile
# ("fatal error: layers/module.h: No such file or directory") instead of tangling the layers.
#
#   base/     Error, KILN_CHECK, KILN_HOST_DEVICE: what every layer, kernels/ included, may use
#   kernels/  sees base/
#   core/     sees kernels/ and base/
#   layers/, optim/, data/   see core/ and below (each other's headers are not visible)
#   weights/  sees layers/, optim/ and below
#   apps/, tests/, bench/, fuzz/   the top: they see what they link
function(kiln_layer_includes target folder)
  set(_dir ${CMAKE_BINARY_DIR}/layer-includes/${folder})
  file(MAKE_DIRECTORY ${_dir})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${_dir}/${folder} SYMBOLIC)
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${_dir})
  else()
    target_include_directories(${target} PUBLIC ${_dir})
  endif()
endfunction()
