#include "process.h"

#if defined(__linux__)
#include <signal.h>
#include <sys/prctl.h>
int gp_die_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); }
#else
int gp_die_with_parent(void) { return 0; }
#endif
