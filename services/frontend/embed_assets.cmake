# frontend_embed_assets(TARGET DIR API_DIR): compiles every file under DIR into TARGET as the table
# frontend_assets[] (see assets.h), keyed by its path below DIR ("/assets/app.js"), with a strong
# ETag from its SHA-256, and every *.yaml of API_DIR (docs/api, the OpenAPI documents: the one
# copy) as "/api/NAME.yaml". In every .html file the comment <!-- api-documents --> becomes one
# link per API document, so the API page's list is made from the documents themselves. In every .html file a reference "/assets/NAME" is rewritten to
# "/assets/NAME?v=<its hash>", so the page names the exact version of each asset and those can be
# cached for a year; the page itself is hashed after the rewrite.
function(frontend_embed_assets target dir api_dir)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS ${dir}/*)
  list(SORT files)
  file(GLOB api_files CONFIGURE_DEPENDS ${api_dir}/*.yaml)
  list(SORT api_files)
  string(REPLACE ";" "|" api_arg "${api_files}")
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_assets.c)
  string(REPLACE ";" "|" files_arg "${files}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DDIR=${dir} "-DFILES=${files_arg}"
            -DAPI_DIR=${api_dir} "-DAPI_FILES=${api_arg}"
            -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_assets_gen.cmake
    DEPENDS ${files} ${api_files} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_assets_gen.cmake
    COMMENT "Embedding the storefront's files for ${target}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
