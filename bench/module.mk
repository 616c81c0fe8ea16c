# bench/module.mk: benchmark guests and the runner (make bench).
