/* The kill tests' way to catch envup at a given moment: with ENVUP_TEST_STOP=POINT in its
 * environment, envup stops itself (SIGSTOP) on reaching POINT, and the test SIGKILLs it there.
 * The points: "clone" (the overlay made, not yet in place), "key-added" (the machine's own key
 * in the guest's authorized_keys, the insecure key not yet removed). */
#ifndef ENVUP_CORE_TESTPOINT_H
#define ENVUP_CORE_TESTPOINT_H

void testpoint_stop(const char *point);

#endif
