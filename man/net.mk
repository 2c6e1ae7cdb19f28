# man/net.mk - the man pages of the network API: streams, TCP, pipes (Unix
# domain sockets), UDP and name resolution, each listed once.  Variants
# documented on another page are one-line .so stubs.  Makefile.am includes
# this fragment next to man/local.mk.

dist_man3_MANS += \
	man/lure_accept.3 \
	man/lure_freeaddrinfo.3 \
	man/lure_getaddrinfo.3 \
	man/lure_getnameinfo.3 \
	man/lure_inet_ntop.3 \
	man/lure_inet_pton.3 \
	man/lure_ip4_addr.3 \
	man/lure_ip4_name.3 \
	man/lure_ip6_addr.3 \
	man/lure_ip6_name.3 \
	man/lure_is_readable.3 \
	man/lure_is_writable.3 \
	man/lure_listen.3 \
	man/lure_pipe_bind.3 \
	man/lure_pipe_connect.3 \
	man/lure_pipe_getpeername.3 \
	man/lure_pipe_getsockname.3 \
	man/lure_pipe_init.3 \
	man/lure_pipe_open.3 \
	man/lure_pipe_pending_count.3 \
	man/lure_pipe_pending_type.3 \
	man/lure_read_start.3 \
	man/lure_read_stop.3 \
	man/lure_shutdown.3 \
	man/lure_stream_get_write_queue_size.3 \
	man/lure_stream_set_blocking.3 \
	man/lure_tcp_bind.3 \
	man/lure_tcp_close_reset.3 \
	man/lure_tcp_connect.3 \
	man/lure_tcp_getpeername.3 \
	man/lure_tcp_getsockname.3 \
	man/lure_tcp_init.3 \
	man/lure_tcp_init_ex.3 \
	man/lure_tcp_keepalive.3 \
	man/lure_tcp_nodelay.3 \
	man/lure_tcp_open.3 \
	man/lure_try_write.3 \
	man/lure_udp_bind.3 \
	man/lure_udp_connect.3 \
	man/lure_udp_getpeername.3 \
	man/lure_udp_getsockname.3 \
	man/lure_udp_init.3 \
	man/lure_udp_init_ex.3 \
	man/lure_udp_recv_start.3 \
	man/lure_udp_recv_stop.3 \
	man/lure_udp_send.3 \
	man/lure_udp_set_broadcast.3 \
	man/lure_udp_set_membership.3 \
	man/lure_udp_set_multicast_interface.3 \
	man/lure_udp_set_multicast_loop.3 \
	man/lure_udp_set_multicast_ttl.3 \
	man/lure_udp_set_ttl.3 \
	man/lure_udp_try_send.3 \
	man/lure_write.3 \
	man/lure_write2.3
