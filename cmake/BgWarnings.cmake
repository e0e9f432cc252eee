# Warnings are errors for the project's own code. bg_warnings(<target>) applies them.
set(BG_WARNING_FLAGS
  -Wall -Wextra -Werror
  -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
  -Wformat=2 -Wvla -Wundef -Wpointer-arith -Wcast-align -Wwrite-strings
  -Wdouble-promotion -Wmissing-declarations)
function(bg_warnings target)
  target_compile_options(${target} PRIVATE ${BG_WARNING_FLAGS})
endfunction()
