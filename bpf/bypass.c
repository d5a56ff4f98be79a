// SPDX-License-Identifier: MIT OR Apache-2.0
// hellowatch `live --bypass`: a socket filter on each capture socket that drops the packets of
// TCP connections the census no longer needs (their keys are in the `bypass` map, inserted
// by hellowatch's workers when a connection settles). Compiled by build.rs with
// `clang -O2 -g -target bpf` when the `bypass` feature is built; loaded by
// src/capture/bypass.rs (aya). See docs/live.md#bypass.
//
// What it never drops: anything but Ethernet (with at most two VLAN tags in the frame) + IPv4
// or IPv6 + TCP; IPv4 fragments (MF set or an offset); IPv6 with any extension header; and
// tunnelled packets (VXLAN, GRE, IP-in-IP, ...), whose outer header is what is seen here.
// TCP segments with SYN, FIN or RST are always kept (connections still start anew and close
// in user space); a SYN whose connection is in the map also deletes it (port reuse: the new
// connection's hello must be read).
//
// The key is direction-independent: the lower (address, port) endpoint first, addresses as
// 16 bytes (IPv4 as ::ffff:a.b.c.d), ports in network byte order, compared bytewise.
// src/capture/bypass.rs builds the same key (BypassKey).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP_ 6
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

struct key {
	__u8 lo_addr[16];
	__u8 hi_addr[16];
	__u8 lo_port[2];
	__u8 hi_port[2];
	__u8 proto;
	__u8 pad[3];
};

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); // set by the loader (--bypass-entries)
	__type(key, struct key);
	__type(value, __u8);
} bypass SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counts);
} bypass_counts SEC(".maps");

static __always_inline int load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(skb, off, to, len);
}

// 1 when endpoint (a, pa) sorts after (b, pb).
static __always_inline int after(const __u8 *a, const __u8 *pa, const __u8 *b, const __u8 *pb)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (a[i] != b[i])
			return a[i] > b[i];
	}
	if (pa[0] != pb[0])
		return pa[0] > pb[0];
	return pa[1] > pb[1];
}

SEC("socket")
int hellowatch_bypass(struct __sk_buff *skb)
{
	__u32 keep = skb->len;
	__u32 off = 12;
	__u16 proto;
	if (load(skb, off, &proto, 2) < 0)
		return keep;
	proto = __builtin_bswap16(proto);
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			off += 4;
			if (load(skb, off, &proto, 2) < 0)
				return keep;
			proto = __builtin_bswap16(proto);
		}
	}
	off += 2;

	__u8 src[16] = {}, dst[16] = {};
	__u8 l4;
	if (proto == ETH_P_IP) {
		__u8 h[20];
		if (load(skb, off, h, 20) < 0)
			return keep;
		if ((h[0] >> 4) != 4)
			return keep;
		__u32 ihl = (h[0] & 0x0f) * 4;
		if (ihl < 20)
			return keep;
		// Fragments (MF, or a non-zero offset) are never dropped.
		if ((h[6] & 0x3f) != 0 || h[7] != 0)
			return keep;
		l4 = h[9];
		src[10] = 0xff;
		src[11] = 0xff;
		dst[10] = 0xff;
		dst[11] = 0xff;
		__builtin_memcpy(&src[12], &h[12], 4);
		__builtin_memcpy(&dst[12], &h[16], 4);
		off += ihl;
	} else if (proto == ETH_P_IPV6) {
		__u8 h[40];
		if (load(skb, off, h, 40) < 0)
			return keep;
		if ((h[0] >> 4) != 6)
			return keep;
		// No extension header chasing: only TCP right after the fixed header.
		l4 = h[6];
		__builtin_memcpy(src, &h[8], 16);
		__builtin_memcpy(dst, &h[24], 16);
		off += 40;
	} else {
		return keep;
	}
	if (l4 != IPPROTO_TCP_)
		return keep;
	__u8 t[14];
	if (load(skb, off, t, 14) < 0)
		return keep;
	__u8 flags = t[13];

	struct key k = {};
	k.proto = l4;
	if (after(src, &t[0], dst, &t[2])) {
		__builtin_memcpy(k.lo_addr, dst, 16);
		__builtin_memcpy(k.hi_addr, src, 16);
		__builtin_memcpy(k.lo_port, &t[2], 2);
		__builtin_memcpy(k.hi_port, &t[0], 2);
	} else {
		__builtin_memcpy(k.lo_addr, src, 16);
		__builtin_memcpy(k.hi_addr, dst, 16);
		__builtin_memcpy(k.lo_port, &t[0], 2);
		__builtin_memcpy(k.hi_port, &t[2], 2);
	}
	if (flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
		if (flags & TCP_SYN)
			bpf_map_delete_elem(&bypass, &k);
		return keep;
	}
	if (!bpf_map_lookup_elem(&bypass, &k))
		return keep;
	__u32 zero = 0;
	struct counts *c = bpf_map_lookup_elem(&bypass_counts, &zero);
	if (c) {
		c->packets += 1;
		c->bytes += skb->len;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
