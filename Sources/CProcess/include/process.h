// process.h: the one process control call Swift cannot reach through Glibc (prctl is variadic).
#ifndef GRU_CONVERT_PROCESS_H
#define GRU_CONVERT_PROCESS_H

/// Asks the kernel to send SIGKILL to this process when its parent dies (`prctl(PR_SET_PDEATHSIG)`);
/// does nothing where that is not available. Returns 0 on success.
int gp_die_with_parent(void);

#endif
