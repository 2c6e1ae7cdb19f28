#include "lure-tests.h"
Suite *random_suite(void) { return suite_create("random"); }
