# The shim must load on hosts without rdma-core: libibverbs is dlopen'ed, never a DT_NEEDED entry.
execute_process(COMMAND readelf -d ${LIBRARY} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d failed on ${LIBRARY}")
endif()
if(dynamic MATCHES "libibverbs")
  message(FATAL_ERROR "${LIBRARY} links libibverbs directly; it must only dlopen it")
endif()
