/* A shared object that is not a worker (no entry point). */
int workgate_test_not_a_worker(void);
__attribute__((visibility("default"))) int workgate_test_not_a_worker(void) {
  return 42;
}
