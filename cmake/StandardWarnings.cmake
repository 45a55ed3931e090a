# Strict warnings; errors in development builds (STRATA_DEV=ON, the default).
function(strata_apply_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(STRATA_DEV)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
