# uring-masks.sh - sourced, not run: the LURE_URING_DISABLE lists that make
# the ring behave as an older or a restricted kernel's would.  One place for
# the executor sets (tests/run-set.sh) and for libuv's suite
# (tests/check-libuv.sh), so that both mean the same by "uring-old" and
# "uring-masked".
#
#   URING_FILE_OPS    the file opcodes: files go to the thread pool
#   URING_SOCKET_OPS  the socket opcodes: streams wait for readiness
#                     (POLL_ADD on the ring) and make non-blocking calls
#   URING_OLD         what kernels before 5.19/6.0 (6.12 for pbuf_inc) lack:
#                     multishot receive and accept, provided-buffer rings
#   URING_61          what Debian 12's own kernel (6.1) lacks of what lure
#                     uses: incremental buffer rings (6.12), ftruncate (6.9)
URING_FILE_OPS=openat,close,read,write,readv,writev,fsync,statx,unlinkat,renameat,mkdirat,symlinkat,linkat,ftruncate
URING_SOCKET_OPS=recv,send,sendmsg,accept
URING_OLD=recv_multishot,accept_multishot,pbuf_ring,pbuf_inc
URING_61=pbuf_inc,ftruncate
