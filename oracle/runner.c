/*
 * runner.c - the nommu-lab oracle's scenario interpreter.
 *
 * A freestanding program for riscv64 no-MMU Linux: no libc, raw `ecall`
 * system calls, linked -static-pie -nostdlib.  The ELF-FDPIC loader places a
 * static PIE anywhere without relocating it, so _start applies its own
 * R_RISCV_RELATIVE relocations before any data pointer is used.
 *
 * One binary plays two parts:
 *
 *   director  (PID 1, started as /init): mounts the board, reads the compiled
 *             scenario file /scen.txt, and for every scenario starts worker
 *             processes, sends them one step at a time, reads /proc files on
 *             their behalf and prints every result on the console.
 *   worker    (argv: <path> w <slot> <scenario> <step>): one process of a
 *             scenario.  It executes the system calls it is sent and prints
 *             their results.  It is the program at /rom/bin/hello too, so a
 *             scenario's execve() of /rom/bin/hello gives a fresh worker.
 *
 * Compiled scenario file (written by nommu_lab/fidelity/compile.py), one
 * record a line, tokens separated by single spaces:
 *
 *   S <scenario-number> <process-count> <name>      start a scenario
 *   P <step> <slot> <op> <arg>...                   a step; args are
 *        i<decimal>           an integer
 *        r<step>.<which>[+-]<decimal>  a result of an earlier step (+ offset)
 *        x<hex>               bytes (paths, data)
 *   C f <hex-path> | C k <key>                      clean-up after the scenario
 *   E                                               end of the scenario
 *
 * Console output, one record a line (the parser is record.py):
 *
 *   @@BOOT <release> <machine>        @@END
 *   @@S <n> <name>   @@E <n>          scenario start / end
 *   @@R <n> <step> <ret> <ret2>       a step's return value (ret is -errno on failure)
 *   @@B <n> <step> <hex>              bytes read (peek, read, pread)
 *   @@L <n> <step> <text>             a line of /proc/PID/maps or /proc/maps
 *   @@K <n> <step> <text>             a kernel log line printed during the step
 *   @@A <n> <step> <why>              the scenario was abandoned at this step
 *   @@X <n> <step> <signal>           the process was killed before or during
 *                                     the step, by <signal> (0: not the
 *                                     director's child, so the signal is unknown)
 */

typedef unsigned long ul;
typedef long sl;
typedef unsigned char u8;

#define NOINLINE __attribute__((noinline))
#define NORETURN __attribute__((noreturn))
#define INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- syscalls */

enum {
	SYS_getcwd = 17, SYS_dup3 = 24, SYS_mknodat = 33, SYS_mkdirat = 34,
	SYS_unlinkat = 35, SYS_mount = 40, SYS_ftruncate = 46, SYS_openat = 56,
	SYS_close = 57, SYS_pipe2 = 59, SYS_read = 63, SYS_write = 64,
	SYS_pread64 = 67, SYS_pwrite64 = 68, SYS_ppoll = 73, SYS_fstat = 80,
	SYS_sync = 81, SYS_exit = 93, SYS_exit_group = 94, SYS_futex = 98,
	SYS_nanosleep = 101, SYS_syslog = 116, SYS_kill = 129, SYS_reboot = 142,
	SYS_uname = 160, SYS_getpid = 172, SYS_shmget = 194, SYS_shmctl = 195,
	SYS_shmat = 196, SYS_shmdt = 197, SYS_brk = 214, SYS_munmap = 215,
	SYS_mremap = 216, SYS_clone = 220, SYS_execve = 221, SYS_mmap = 222,
	SYS_mprotect = 226, SYS_wait4 = 260, SYS_fork_generic = 1079,
	SYS_ptrace = 117,
};

INLINE sl sys6(sl n, sl a, sl b, sl c, sl d, sl e, sl f)
{
	register sl a0 __asm__("a0") = a;
	register sl a1 __asm__("a1") = b;
	register sl a2 __asm__("a2") = c;
	register sl a3 __asm__("a3") = d;
	register sl a4 __asm__("a4") = e;
	register sl a5 __asm__("a5") = f;
	register sl a7 __asm__("a7") = n;
	__asm__ volatile("ecall"
			 : "+r"(a0)
			 : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7)
			 : "memory");
	return a0;
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (sl)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (sl)(a), (sl)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (sl)(a), (sl)(b), (sl)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (sl)(a), (sl)(b), (sl)(c), (sl)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (sl)(a), (sl)(b), (sl)(c), (sl)(d), (sl)(e), 0)

#define AT_FDCWD (-100)
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define O_CLOEXEC 02000000
#define SIGKILL 9
#define SIGCHLD 17
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define WNOHANG 1
#define WALL 0x40000000
#define ENOENT 2
#define ECHILD 10
#define EINTR 4
#define ENOSYS 38
#define EFAULT 14
#define SIGSTOP 19
#define PTRACE_PEEKDATA 2
#define PTRACE_POKEDATA 5
#define PTRACE_CONT 7
#define PTRACE_ATTACH 16

/* vfork must not return through a stack frame the child may have reused. */
INLINE sl raw_vfork(void)
{
	return sys6(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0, 0);
}

/*
 * clone() onto a new stack: the child finds its function and argument in
 * registers the system call leaves alone (a5, a6) and calls it; the function
 * never returns.
 */
static NOINLINE sl raw_clone_call(ul flags, void *stack, void (*fn)(sl), sl arg)
{
	register sl a0 __asm__("a0") = (sl)flags;
	register sl a1 __asm__("a1") = (sl)stack;
	register sl a2 __asm__("a2") = 0;
	register sl a3 __asm__("a3") = 0;
	register sl a4 __asm__("a4") = 0;
	register sl a5 __asm__("a5") = (sl)fn;
	register sl a6 __asm__("a6") = arg;
	register sl a7 __asm__("a7") = SYS_clone;
	__asm__ volatile("ecall\n\t"
			 "bnez a0, 1f\n\t"
			 "mv a0, a6\n\t"
			 "jalr a5\n\t"
			 "1:"
			 : "+r"(a0)
			 : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a6), "r"(a7)
			 : "memory", "ra");
	return a0;
}

/* ------------------------------------------------------------- libc bits */

void *memset(void *d, int c, ul n)
{
	volatile u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, ul n)
{
	volatile u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

void *memmove(void *d, const void *s, ul n)
{
	volatile u8 *p = d;
	const u8 *q = s;
	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, ul n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

static ul slen(const char *s)
{
	ul n = 0;
	while (s[n])
		n++;
	return n;
}

static int seq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* ------------------------------------------------------------------ output */

static char obuf[16384];
static ul olen;

static void oflush(void)
{
	ul off = 0;
	while (off < olen) {
		sl r = sys3(SYS_write, 1, obuf + off, olen - off);
		if (r <= 0) {
			if (r == -EINTR)
				continue;
			break;
		}
		off += (ul)r;
	}
	olen = 0;
}

static void oc(char c)
{
	if (olen >= sizeof(obuf) - 1)
		oflush();
	obuf[olen++] = c;
}

static void os(const char *s)
{
	while (*s)
		oc(*s++);
}

static void odec(sl v)
{
	char t[24];
	int n = 0;
	ul u = v < 0 ? -(ul)v : (ul)v;
	if (v < 0)
		oc('-');
	do {
		t[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		oc(t[--n]);
}

static void ohex8(u8 b)
{
	const char *h = "0123456789abcdef";
	oc(h[b >> 4]);
	oc(h[b & 15]);
}

/* every record ends with a newline and goes out in one write() */
static void oend(void)
{
	oc('\n');
	oflush();
}

static void ohead(const char *tag, sl sc, sl step)
{
	os(tag);
	oc(' ');
	odec(sc);
	oc(' ');
	odec(step);
}

static void print_ret(sl sc, sl step, sl ret, sl ret2)
{
	ohead("@@R", sc, step);
	oc(' ');
	odec(ret);
	oc(' ');
	odec(ret2);
	oend();
}

static void print_bytes(sl sc, sl step, const u8 *p, ul n)
{
	ohead("@@B", sc, step);
	oc(' ');
	for (ul i = 0; i < n; i++)
		ohex8(p[i]);
	oend();
}

/* ----------------------------------------------------------------- parsing */

struct cur {
	char *p;
};

static int isdig(char c)
{
	return c >= '0' && c <= '9';
}

static sl pdec(char **pp)
{
	char *p = *pp;
	int neg = 0;
	ul v = 0;
	while (*p == ' ')
		p++;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	while (isdig(*p))
		v = v * 10 + (ul)(*p++ - '0');
	*pp = p;
	return neg ? -(sl)v : (sl)v;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* next space-separated token, NUL-terminated in place; NULL at end of line */
static char *tok(char **pp)
{
	char *p = *pp, *s;
	while (*p == ' ')
		p++;
	if (*p == 0 || *p == '\n')
		return 0;
	s = p;
	while (*p && *p != ' ' && *p != '\n')
		p++;
	if (*p)
		*p++ = 0;
	*pp = p;
	return s;
}

/* decode an `x<hex>` token in place; returns the byte count */
static ul unhex(char *t)
{
	ul n = 0;
	char *s = t + 1;
	while (hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
		t[n++] = (char)(hexval(s[0]) * 16 + hexval(s[1]));
		s += 2;
	}
	t[n] = 0;
	return n;
}

/* ----------------------------------------------------------- small helpers */

static void msleep(sl ms)
{
	sl ts[2] = {ms / 1000, (ms % 1000) * 1000000};
	sys2(SYS_nanosleep, ts, 0);
}

static sl read_file(const char *path, char *buf, ul cap)
{
	sl fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	ul n = 0;
	if (fd < 0)
		return fd;
	while (n < cap - 1) {
		sl r = sys3(SYS_read, fd, buf + n, cap - 1 - n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		n += (ul)r;
	}
	buf[n] = 0;
	sys1(SYS_close, fd);
	return (sl)n;
}

static sl write_file(const char *path, const char *data, ul n)
{
	sl fd = sys4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0);
	sl r;
	if (fd < 0)
		return fd;
	r = sys3(SYS_write, fd, data, n);
	sys1(SYS_close, fd);
	return r < 0 ? r : 0;
}

static void fmt_dec(char *t, sl v)
{
	char tmp[24];
	int n = 0, i = 0;
	ul u = v < 0 ? -(ul)v : (ul)v;
	if (v < 0)
		t[i++] = '-';
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		t[i++] = tmp[--n];
	t[i] = 0;
}

/*
 * Bug 4 (docs/linux-vs-document.md): on 64-bit, MTD direct mappings come back
 * sign-extended from a 32-bit int.  The value is kept for system calls (the
 * VMA really starts there) but memory is reached through the low 32 bits.
 */
static ul mem_addr(ul a)
{
	if ((a >> 31) == 0x1ffffffffUL)
		return a & 0xffffffffUL;
	return a;
}

/*
 * peek and poke touch memory directly; an address that is really an error
 * code (a failed mmap used as an address) or lies outside RAM and flash would
 * kill the worker, so those are refused with EFAULT instead.  QEMU virt has
 * its RAM at 0x80000000 (128 MiB here) and the rom's NOR flash bank at
 * 0x20000000 (32 MiB; a store there is ignored, as on real flash).
 */
static int addr_usable(ul a)
{
	a = mem_addr(a);
	return (a >= 0x80000000UL && a < 0x88000000UL) ||
	       (a >= 0x20000000UL && a < 0x22000000UL);
}

/* ------------------------------------------------------------------ worker */

#define MAXPROC 8
#define CMD_FD(j) (10 + (j))  /* worker j reads its commands here */
#define TELL_FD(j) (40 + (j)) /* the director writes them here */
#define DONE_RD 38            /* the director reads step completions */
#define DONE_WR 9             /* every worker writes them */

struct done {
	sl sc, step, ret, ret2, pid;
};

static char cmdbuf[65536];
static u8 iobuf[65536];
static char child_stack[MAXPROC][8192] __attribute__((aligned(16)));
static char self_path[256];

static void tell_done(sl sc, sl step, sl ret, sl ret2)
{
	struct done d = {sc, step, ret, ret2, sys0(SYS_getpid)};
	sys3(SYS_write, DONE_WR, &d, sizeof(d));
}

static void finish(sl sc, sl step, sl ret, sl ret2)
{
	print_ret(sc, step, ret, ret2);
	tell_done(sc, step, ret, ret2);
}

static NORETURN void worker_loop(sl slot);

static void worker_clone_entry(sl slot)
{
	worker_loop(slot);
}

static NORETURN void do_exec(const char *path, sl slot, sl sc, sl step)
{
	char a2[24], a3[24], a4[24];
	char *argv[6];
	char *envp[1] = {0};
	sl r;
	fmt_dec(a2, slot);
	fmt_dec(a3, sc);
	fmt_dec(a4, step);
	argv[0] = (char *)path;
	argv[1] = "w";
	argv[2] = a2;
	argv[3] = a3;
	argv[4] = a4;
	argv[5] = 0;
	r = sys3(SYS_execve, path, argv, envp);
	/* only a failed execve gets here */
	finish(sc, step, r, 0);
	worker_loop(slot);
}

/* vfork in the worker: the child becomes process `slot` of the scenario */
static NOINLINE sl worker_vfork(sl slot, sl sc, sl step)
{
	sl r = raw_vfork();
	if (r == 0) {
		finish(sc, step, 0, 0);
		worker_loop(slot);
	}
	return r;
}

/*
 * ptrace from a worker: PTRACE_ATTACH stops the target, so the tracer waits
 * for the stop and lets it run on (it stays traced).  PEEK and POKE need the
 * target stopped: stop it, wait, transfer one word, let it run again.  A poke
 * of fewer than 8 bytes merges them into the word read first, as debuggers do.
 */
static void stop_tracee(sl pid)
{
	int st;
	sys2(SYS_kill, pid, SIGSTOP);
	sys4(SYS_wait4, pid, &st, WALL, 0);
}

static sl do_ptrace(const char *op, sl pid, ul addr, const char *data, ul n, u8 *out)
{
	sl r, word = 0;
	int st;
	if (seq(op, "ptrace_attach")) {
		r = sys4(SYS_ptrace, PTRACE_ATTACH, pid, 0, 0);
		if (r == 0) {
			sys4(SYS_wait4, pid, &st, WALL, 0);
			sys4(SYS_ptrace, PTRACE_CONT, pid, 0, 0);
		}
		return r;
	}
	stop_tracee(pid);
	r = sys4(SYS_ptrace, PTRACE_PEEKDATA, pid, addr, &word);
	if (r == 0 && seq(op, "ptrace_poke")) {
		memcpy(&word, data, n > 8 ? 8 : n);
		r = sys4(SYS_ptrace, PTRACE_POKEDATA, pid, addr, word);
	} else if (r == 0) {
		memcpy(out, &word, 8);
		r = 8;
	}
	sys4(SYS_ptrace, PTRACE_CONT, pid, 0, 0);
	return r;
}

/* read one command line (terminated by '\n') from fd */
static sl read_cmd(sl fd)
{
	ul n = 0;
	for (;;) {
		sl r = sys3(SYS_read, fd, cmdbuf + n, sizeof(cmdbuf) - 1 - n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		n += (ul)r;
		if (cmdbuf[n - 1] == '\n' || n >= sizeof(cmdbuf) - 1)
			break;
	}
	cmdbuf[n] = 0;
	return (sl)n;
}

#define ARG_MAX 8

static NORETURN void worker_loop(sl slot)
{
	for (;;) {
		char *p, *op, *a[ARG_MAX];
		sl v[ARG_MAX];
		ul xl[ARG_MAX];
		sl sc, step, r = -ENOSYS, r2 = 0;
		int na = 0;

		if (read_cmd(CMD_FD(slot)) < 0)
			sys1(SYS_exit_group, 111);
		p = cmdbuf;
		sc = pdec(&p);
		step = pdec(&p);
		op = tok(&p);
		if (!op)
			continue;
		while (na < ARG_MAX && (a[na] = tok(&p)) != 0) {
			v[na] = 0;
			xl[na] = 0;
			if (a[na][0] == 'i') {
				char *q = a[na] + 1;
				v[na] = pdec(&q);
			} else if (a[na][0] == 'x') {
				xl[na] = unhex(a[na]);
			}
			na++;
		}
#define X(i) (a[i] + 0)
		if (seq(op, "open")) {
			r = sys4(SYS_openat, AT_FDCWD, X(0), v[1] | O_NOCTTY, v[2]);
		} else if (seq(op, "shm_open")) {
			/* what libc's shm_open does: a file under /dev/shm */
			char path[300] = "/dev/shm/";
			const char *n = X(0);
			ul l = 9;
			while (*n == '/')
				n++;
			while (*n && l < sizeof(path) - 1)
				path[l++] = *n++;
			path[l] = 0;
			r = sys4(SYS_openat, AT_FDCWD, path, v[1] | O_NOCTTY | O_CLOEXEC, v[2]);
		} else if (seq(op, "close")) {
			r = sys1(SYS_close, v[0]);
		} else if (seq(op, "ftruncate")) {
			r = sys2(SYS_ftruncate, v[0], v[1]);
		} else if (seq(op, "write")) {
			r = sys3(SYS_write, v[0], X(1), xl[1]);
		} else if (seq(op, "fill")) {
			/* write v[1]-byte pieces of 'F' until a write is refused (short
			 * writes go on): the step answers the refusal, or the last
			 * count if a million pieces all went through */
			ul n = (ul)v[1] > sizeof(iobuf) ? sizeof(iobuf) : (ul)v[1];
			ul j;
			for (j = 0; j < n; j++)
				iobuf[j] = 'F';
			for (j = 0; j < (1ul << 20); j++) {
				r = sys3(SYS_write, v[0], iobuf, n);
				if (r <= 0)
					break;
			}
		} else if (seq(op, "hog")) {
			/* map v[0]-byte anonymous private copies until one is
			 * refused (or the process is killed): the step answers
			 * the refusal, 0 if a million all went through */
			ul j;
			for (j = 0; j < (1ul << 20); j++) {
				r = sys6(SYS_mmap, 0, v[0], 3 /* PROT_READ|PROT_WRITE */,
					 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
				if (r < 0 && r > -4096)
					break;
			}
			if (!(r < 0 && r > -4096))
				r = 0;
		} else if (seq(op, "pwrite")) {
			r = sys4(SYS_pwrite64, v[0], X(1), xl[1], v[2]);
		} else if (seq(op, "read") || seq(op, "pread")) {
			ul n = (ul)v[1] > sizeof(iobuf) ? sizeof(iobuf) : (ul)v[1];
			if (seq(op, "read"))
				r = sys3(SYS_read, v[0], iobuf, n);
			else
				r = sys4(SYS_pread64, v[0], iobuf, n, v[2]);
			if (r >= 0)
				print_bytes(sc, step, iobuf, (ul)r);
		} else if (seq(op, "fstat")) {
			sl st[16];
			r = sys2(SYS_fstat, v[0], st);
			if (r == 0)
				r = st[6]; /* st_size in the asm-generic struct stat */
		} else if (seq(op, "pipe")) {
			int fds[2] = {-1, -1};
			r = sys2(SYS_pipe2, fds, 0);
			if (r == 0) {
				r = fds[0];
				r2 = fds[1];
			}
		} else if (seq(op, "mmap")) {
			r = sys6(SYS_mmap, v[0], v[1], v[2], v[3], v[4], v[5]);
		} else if (seq(op, "munmap")) {
			r = sys2(SYS_munmap, v[0], v[1]);
		} else if (seq(op, "mremap")) {
			r = sys5(SYS_mremap, v[0], v[1], v[2], v[3], v[4]);
		} else if (seq(op, "mprotect")) {
			r = sys3(SYS_mprotect, v[0], v[1], v[2]);
		} else if (seq(op, "shmget")) {
			r = sys3(SYS_shmget, v[0], v[1], v[2]);
		} else if (seq(op, "shmat")) {
			r = sys3(SYS_shmat, v[0], v[1], v[2]);
		} else if (seq(op, "shmdt")) {
			r = sys1(SYS_shmdt, v[0]);
		} else if (seq(op, "futex")) {
			/* v[3]: a timeout in ns; -2 sleeps until woken (a `!sleeps`
			 * step); -1 (none given) gives up after 50 ms, so a wait the
			 * scenario did not expect to sleep cannot hang the run */
			sl ts[2] = {0, 50000000};
			sl is_wait = (v[1] & 127) == 0;
			if (na > 3 && v[3] >= 0) {
				ts[0] = v[3] / 1000000000;
				ts[1] = v[3] % 1000000000;
			}
			r = sys6(SYS_futex, v[0], v[1], v[2],
				 is_wait && !(na > 3 && v[3] == -2) ? (sl)ts : 0, 0, 0);
		} else if (seq(op, "peek")) {
			ul n = (ul)v[1] > sizeof(iobuf) ? sizeof(iobuf) : (ul)v[1];
			r = -EFAULT;
			if (addr_usable((ul)v[0])) {
				memcpy(iobuf, (const void *)mem_addr((ul)v[0]), n);
				print_bytes(sc, step, iobuf, n);
				r = (sl)n;
			}
		} else if (seq(op, "poke")) {
			r = -EFAULT;
			if (addr_usable((ul)v[0])) {
				memcpy((void *)mem_addr((ul)v[0]), X(1), xl[1]);
				r = (sl)xl[1];
			}
		} else if (seq(op, "ptrace_attach") || seq(op, "ptrace_peek") || seq(op, "ptrace_poke")) {
			r = do_ptrace(op, v[0], (ul)v[1], na > 2 ? X(2) : 0, na > 2 ? xl[2] : 0, iobuf);
			if (seq(op, "ptrace_peek") && r == 8)
				print_bytes(sc, step, iobuf, 8);
		} else if (seq(op, "brk")) {
			r = sys1(SYS_brk, v[0]);
		} else if (seq(op, "fork")) {
			/* RISC-V wires no fork system call: the generic number answers ENOSYS */
			r = sys0(SYS_fork_generic);
		} else if (seq(op, "vfork")) {
			/* the child answers this step; the parent resumes silently */
			worker_vfork(v[0], sc, step);
			continue;
		} else if (seq(op, "clone")) {
			sl child = v[0];
			r = raw_clone_call((ul)v[1] | SIGCHLD, child_stack[child] + sizeof(child_stack[0]),
					   worker_clone_entry, child);
		} else if (seq(op, "exec")) {
			oflush();
			do_exec(X(0), slot, sc, step);
		} else if (seq(op, "exit")) {
			finish(sc, step, 0, 0);
			sys1(SYS_exit_group, v[0]);
		}
		finish(sc, step, r, r2);
	}
}

/* ---------------------------------------------------------------- director */

/* the director's own buffers come from one anonymous mapping made at boot,
 * so that worker images (the same binary) stay small */
#define SCEN_SIZE 262144
#define PBUF_SIZE 65536
#define LINE_SIZE 65536
static char *scen, *pbuf, *fwd_line;

struct proc {
	sl pid;
	int alive;
	int ours;   /* a child of the director (reaped with wait4) */
	int reaped; /* killed and reaped while another step ran: 0x100 | signal */
};

static struct proc procs[MAXPROC];
static sl pending[MAXPROC]; /* a `!sleeps` step a worker has not answered yet, or -1 */
static sl (*vals)[2]; /* 4096 entries, in the director's mapping */
static sl cur_sc;

static void klog_dump(sl sc, sl step)
{
	sl n;
	/* reading the log allocates kernel memory, which could take a page a
	 * scenario has just freed: only read when there is something new */
	if (sys3(SYS_syslog, 9 /* SIZE_UNREAD */, 0, 0) <= 0)
		return;
	n = sys3(SYS_syslog, 4 /* READ_CLEAR */, pbuf, PBUF_SIZE - 1);
	char *p = pbuf, *e;
	if (n <= 0)
		return;
	pbuf[n] = 0;
	while (*p) {
		e = p;
		while (*e && *e != '\n')
			e++;
		if (e > p) {
			ohead("@@K", sc, step);
			oc(' ');
			while (p < e)
				oc(*p++);
			oend();
		}
		p = *e ? e + 1 : e;
	}
}

static void print_lines(const char *tag, sl sc, sl step, const char *text)
{
	const char *p = text;
	while (*p) {
		ohead(tag, sc, step);
		oc(' ');
		while (*p && *p != '\n')
			oc(*p++);
		oend();
		if (*p)
			p++;
	}
}

/* read one completion message; 0 on success, -1 on timeout */
static int read_done(struct done *d, sl ms)
{
	struct {
		int fd;
		short ev, rev;
	} pfd = {DONE_RD, 1, 0};
	sl ts[2] = {ms / 1000, (ms % 1000) * 1000000};
	ul got = 0;
	while (got < sizeof(*d)) {
		sl r = sys5(SYS_ppoll, &pfd, 1, ts, 0, 8);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		r = sys3(SYS_read, DONE_RD, (char *)d + got, sizeof(*d) - got);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (ul)r;
	}
	return 0;
}

/*
 * wait for the completion of `step`; completions of steps that were left
 * sleeping (a futex wait woken meanwhile) are taken in passing.
 */
static int wait_step(sl step, struct done *d, sl ms)
{
	for (;;) {
		if (read_done(d, ms) < 0)
			return -1;
		if (d->step >= 0 && d->step < 4096) {
			vals[d->step][0] = d->ret;
			vals[d->step][1] = d->ret2;
		}
		for (int j = 0; j < MAXPROC; j++)
			if (pending[j] == d->step)
				pending[j] = -1;
		if (d->step == step)
			return 0;
	}
}

/* a worker left sleeping must have answered before it gets a new step */
static int settle(sl slot)
{
	struct done d;
	if (pending[slot] < 0)
		return 0;
	return wait_step(pending[slot], &d, 3000);
}

/* whether a process has exited: gone, or a zombie (its mm is released) */
static int has_exited(sl pid)
{
	char path[40] = "/proc/";
	char st[128];
	char *p;
	fmt_dec(path + 6, pid);
	memcpy(path + slen(path), "/stat", 6);
	if (read_file(path, st, sizeof(st)) <= 0)
		return 1;
	p = st;
	while (*p && *p != ')')
		p++;
	return *p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* reap a child of the director; a traced child stays a zombie until its
 * tracer lets go, and reap_all() collects it later */
static void reap_ours(sl pid)
{
	int st;
	for (int i = 0; i < 2000; i++) {
		sl r = sys4(SYS_wait4, pid, &st, WNOHANG | WALL, 0);
		if (r == pid || r == -ECHILD || has_exited(pid))
			return;
		msleep(1);
	}
}

/* wait until a process that is not our child has exited (gone or zombie) */
static void wait_gone(sl pid)
{
	for (int i = 0; i < 2000; i++) {
		if (has_exited(pid))
			return;
		msleep(1);
	}
}

static void reap_all(void)
{
	int st;
	for (int i = 0; i < 200; i++) {
		sl r = sys4(SYS_wait4, -1, &st, WNOHANG | WALL, 0);
		if (r == -ECHILD)
			return;
		if (r == 0)
			msleep(2);
	}
}

static void klog_dump(sl sc, sl step);

static void abandon(sl sc, sl step, const char *why)
{
	msleep(50);
	klog_dump(sc, step); /* an oops explains why */
	ohead("@@A", sc, step);
	oc(' ');
	os(why);
	oend();
	sys2(SYS_kill, -1, SIGKILL);
	msleep(20);
	reap_all();
	for (int j = 0; j < MAXPROC; j++) {
		procs[j].alive = 0;
		pending[j] = -1;
	}
}

/* resolve one argument token into the text sent to a worker */
static void put_arg(char **w, char *t)
{
	char *o = *w;
	if (t[0] == 'r') {
		char *q = t + 1;
		sl step = pdec(&q), which = 0, off = 0, v;
		char tmp[24];
		if (*q == '.') {
			q++;
			which = pdec(&q);
		}
		if (*q == '+' || *q == '-')
			off = pdec(&q);
		v = vals[step & 4095][which & 1] + off;
		fmt_dec(tmp, v);
		*o++ = 'i';
		for (char *s = tmp; *s; s++)
			*o++ = *s;
	} else if (t[0] == 'p') {
		/* a process of the scenario, by slot: its pid */
		char *q = t + 1;
		sl slot = pdec(&q);
		char tmp[24];
		fmt_dec(tmp, slot >= 0 && slot < MAXPROC ? procs[slot].pid : -1);
		*o++ = 'i';
		for (char *s = tmp; *s; s++)
			*o++ = *s;
	} else {
		while (*t)
			*o++ = *t++;
	}
	*o++ = ' ';
	*w = o;
}

static sl spawn_worker(sl slot, sl sc, sl step)
{
	sl r = raw_vfork();
	if (r == 0) {
		char a2[24], a3[24], a4[24];
		char *argv[6];
		char *envp[1] = {0};
		fmt_dec(a2, slot);
		fmt_dec(a3, sc);
		fmt_dec(a4, step);
		argv[0] = self_path;
		argv[1] = "w";
		argv[2] = a2;
		argv[3] = a3;
		argv[4] = a4;
		argv[5] = 0;
		sys3(SYS_execve, self_path, argv, envp);
		sys1(SYS_exit, 127);
	}
	return r;
}

static void setup_pipes(sl nproc)
{
	int fds[2];
	sys2(SYS_pipe2, fds, 0);
	sys3(SYS_dup3, fds[0], DONE_RD, 0);
	sys3(SYS_dup3, fds[1], DONE_WR, 0);
	sys1(SYS_close, fds[0]);
	sys1(SYS_close, fds[1]);
	for (sl j = 0; j < nproc; j++) {
		sys2(SYS_pipe2, fds, 0);
		sys3(SYS_dup3, fds[0], CMD_FD(j), 0);
		sys3(SYS_dup3, fds[1], TELL_FD(j), 0);
		sys1(SYS_close, fds[0]);
		sys1(SYS_close, fds[1]);
	}
}

static void close_pipes(void)
{
	sys1(SYS_close, DONE_RD);
	sys1(SYS_close, DONE_WR);
	for (sl j = 0; j < MAXPROC; j++) {
		sys1(SYS_close, CMD_FD(j));
		sys1(SYS_close, TELL_FD(j));
	}
}

/* send a command line to worker `slot` and wait for its completion */
/* reap the director's workers that were killed (not those that exited) */
static void reap_killed(void)
{
	for (int j = 0; j < MAXPROC; j++) {
		int st = 0;
		if (!procs[j].alive || !procs[j].ours || procs[j].reaped)
			continue;
		if (sys4(SYS_wait4, procs[j].pid, &st, WNOHANG | WALL, 0) == procs[j].pid)
			procs[j].reaped = 0x100 | (st & 0x7f);
	}
}

/* the signal that killed a worker (0 if not ours to reap, so unknown) */
static sl killed_by(sl slot)
{
	int st = 0;
	if (procs[slot].reaped)
		return procs[slot].reaped & 0x7f;
	if (procs[slot].ours && sys4(SYS_wait4, procs[slot].pid, &st, WALL, 0) == procs[slot].pid)
		return st & 0x7f;
	return 0;
}

static int forward(sl slot, sl sc, sl step, char *op, char *rest, struct done *d)
{
	char *line = fwd_line, *w = line, *t;
	char tmp[24];
	fmt_dec(tmp, sc);
	for (char *s = tmp; *s; s++)
		*w++ = *s;
	*w++ = ' ';
	fmt_dec(tmp, step);
	for (char *s = tmp; *s; s++)
		*w++ = *s;
	*w++ = ' ';
	for (char *s = op; *s; s++)
		*w++ = *s;
	*w++ = ' ';
	while ((t = tok(&rest)) != 0)
		put_arg(&w, t);
	w[-1] = '\n';
	if (settle(slot) < 0)
		return -1;
	if (has_exited(procs[slot].pid))
		return -2; /* killed before its step (by the OOM killer, say) */
	{
		ul n = (ul)(w - line), off = 0;
		while (off < n) {
			sl r = sys3(SYS_write, TELL_FD(slot), line + off, n - off);
			if (r == -EINTR)
				continue;
			if (r <= 0)
				return -1;
			off += (ul)r;
		}
	}
	if (!d) {
		pending[slot] = step; /* answered when woken */
		return 0;
	}
	/* in slices, so that a worker killed during its step (the OOM killer)
	 * is noticed at once (-2), and other workers killed meanwhile are
	 * reaped at once, as a shell reaps its jobs: on no-MMU an OOM victim
	 * that stays a zombie keeps the OOM killer from choosing another */
	for (int i = 0; i < 30; i++) {
		if (wait_step(step, d, 100) == 0)
			return 0;
		reap_killed();
		if (has_exited(procs[slot].pid))
			return wait_step(step, d, 50) == 0 ? 0 : -2;
	}
	return -1;
}

/* a /proc file, line by line (trailing blanks kept), then the step's result */
static void proc_file(const char *path, sl sc, sl step)
{
	sl n = read_file(path, pbuf, PBUF_SIZE);
	if (n >= 0)
		print_lines("@@L", sc, step, pbuf);
	print_ret(sc, step, n < 0 ? n : 0, 0);
}

static void proc_maps_of(sl slot, sl sc, sl step)
{
	char path[48] = "/proc/";
	fmt_dec(path + 6, procs[slot].pid);
	memcpy(path + slen(path), "/maps", 6);
	proc_file(path, sc, step);
}

static sl meminfo_mmapcopy(void)
{
	char *p;
	if (read_file("/proc/meminfo", pbuf, PBUF_SIZE) < 0)
		return -ENOENT;
	for (p = pbuf; *p; p++) {
		if (p[0] == 'M' && memcmp(p, "MmapCopy:", 9) == 0) {
			p += 9;
			while (*p == ' ')
				p++;
			return pdec(&p);
		}
	}
	return -ENOENT;
}

/*
 * After sending a `!sleeps` futex wait, let the worker really get into the
 * futex call before the next step (a wake sent earlier would find nobody):
 * /proc/PID/syscall starts with the system call number while it blocks.
 */
static void wait_in_futex(sl pid)
{
	char path[48] = "/proc/";
	char buf[64];
	fmt_dec(path + 6, pid);
	memcpy(path + slen(path), "/syscall", 9);
	for (int i = 0; i < 2000; i++) {
		if (read_file(path, buf, sizeof(buf)) > 3 && memcmp(buf, "98 ", 3) == 0)
			return;
		msleep(1);
	}
}

static void run_step(char *line)
{
	char *p = line, *op;
	sl step, slot;
	struct done d;
	int sleeps = line[0] == 'Q'; /* do not wait for the answer */
	p++; /* 'P' or 'Q' */
	step = pdec(&p);
	slot = pdec(&p);
	op = tok(&p);
	if (!op || step < 0 || step >= 4096 || slot < 0 || slot >= MAXPROC)
		return;
	vals[step][0] = vals[step][1] = 0;

	if (seq(op, "spawn")) {
		sl pid = spawn_worker(slot, cur_sc, step);
		if (pid < 0 || wait_step(step, &d, 10000) < 0) {
			print_ret(cur_sc, step, pid < 0 ? pid : -ENOSYS, 0);
			abandon(cur_sc, step, "spawn failed");
			return;
		}
		procs[slot].pid = d.pid;
		procs[slot].alive = 1;
		procs[slot].ours = 1;
		procs[slot].reaped = 0;
		/* the new worker printed this step's result itself */
	} else if (seq(op, "maps")) {
		proc_maps_of(slot, cur_sc, step);
	} else if (seq(op, "procmaps")) {
		proc_file("/proc/maps", cur_sc, step);
	} else if (seq(op, "buddyinfo")) {
		proc_file("/proc/buddyinfo", cur_sc, step);
	} else if (seq(op, "meminfo")) {
		sl v = meminfo_mmapcopy();
		vals[step][0] = v;
		print_ret(cur_sc, step, v, 0);
	} else if (seq(op, "sysctl")) {
		/* sysctl x<path> [i<value>] */
		char *t = tok(&p), *val = tok(&p);
		sl r;
		unhex(t);
		if (val) {
			char num[24];
			char *q = val + 1;
			fmt_dec(num, pdec(&q));
			r = write_file(t + 0, num, slen(num));
		} else {
			r = read_file(t, pbuf, 64);
			if (r >= 0) {
				char *q = pbuf;
				r = pdec(&q);
			}
		}
		vals[step][0] = r;
		print_ret(cur_sc, step, r, 0);
	} else {
		sl target = slot;
		if (!procs[target].alive) {
			print_ret(cur_sc, step, -ENOSYS, 0);
			abandon(cur_sc, step, "process not running");
			return;
		}
		sl got = forward(target, cur_sc, step, op, p, sleeps ? 0 : &d);
		if (got == -2) {
			ohead("@@X", cur_sc, step);
			oc(' ');
			odec(killed_by(target));
			oend();
			procs[target].alive = 0;
			klog_dump(cur_sc, step);
			return;
		}
		if (got < 0) {
			abandon(cur_sc, step, "no answer within 3 s");
			return;
		}
		if (sleeps) {
			wait_in_futex(procs[target].pid);
			klog_dump(cur_sc, step);
			return;
		}
		vals[step][0] = d.ret;
		vals[step][1] = d.ret2;
		if (seq(op, "vfork")) {
			/* the answer came from the child; find its slot in the line */
			char *q = p;
			char *t = tok(&q);
			sl child = 0;
			if (t && t[0] == 'i') {
				char *s = t + 1;
				child = pdec(&s);
			}
			if (child >= 0 && child < MAXPROC) {
				procs[child].pid = d.pid;
				procs[child].alive = 1;
				procs[child].ours = 0;
				procs[child].reaped = 0;
			}
			vals[step][0] = d.pid;
		} else if (seq(op, "clone") && d.ret > 0) {
			char *q = p;
			char *t = tok(&q);
			sl child = -1;
			if (t && t[0] == 'i') {
				char *s = t + 1;
				child = pdec(&s);
			}
			if (child >= 0 && child < MAXPROC) {
				procs[child].pid = d.ret;
				procs[child].alive = 1;
				procs[child].ours = 0;
				procs[child].reaped = 0;
			}
		} else if (seq(op, "exit")) {
			procs[target].alive = 0;
			if (procs[target].ours)
				reap_ours(procs[target].pid);
			else
				wait_gone(procs[target].pid);
		} else if (seq(op, "exec")) {
			/* nothing to track: same pid, new image */
		}
	}
	klog_dump(cur_sc, step);
}

static void end_scenario(void)
{
	struct done d;
	for (int j = MAXPROC - 1; j >= 0; j--) {
		if (!procs[j].alive)
			continue;
		if (forward(j, cur_sc, 4095, "exit", "i0", &d) < 0) {
			abandon(cur_sc, 4095, "clean-up exit did not answer");
			break;
		}
		procs[j].alive = 0;
		if (procs[j].ours)
			reap_ours(procs[j].pid);
		else
			wait_gone(procs[j].pid);
	}
	reap_all();
	close_pipes();
}

static void cleanup(char *line)
{
	char *p = line + 1, *kind = tok(&p), *arg = tok(&p);
	if (!kind || !arg)
		return;
	if (kind[0] == 'f') {
		unhex(arg);
		sys3(SYS_unlinkat, AT_FDCWD, arg, 0);
	} else if (kind[0] == 'k') {
		char *q = arg;
		sl id = sys3(SYS_shmget, pdec(&q), 0, 0);
		if (id >= 0)
			sys3(SYS_shmctl, id, 0 /* IPC_RMID */, 0);
	}
}

static void mkdir_p(const char *path)
{
	sys3(SYS_mkdirat, AT_FDCWD, path, 0755);
}

static void setup_board(void)
{
	sl r;
	mkdir_p("/dev");
	mkdir_p("/proc");
	mkdir_p("/tmp");
	mkdir_p("/rom");
	mkdir_p("/mnt");
	mkdir_p("/mnt/disk");
	sys5(SYS_mount, "devtmpfs", "/dev", "devtmpfs", 0, 0);
	sys5(SYS_mount, "proc", "/proc", "proc", 0, 0);
	sys5(SYS_mount, "ramfs", "/tmp", "ramfs", 0, 0);
	mkdir_p("/dev/shm");
	sys5(SYS_mount, "ramfs", "/dev/shm", "ramfs", 0, 0);
	/* mtd0 is the NOR flash at 0x20000000, a ROM-type MTD (physmap mtd-rom) */
	r = sys5(SYS_mount, "mtd0", "/rom", "romfs", 1 /* MS_RDONLY */, 0);
	if (r < 0) {
		os("@@SETUP mount romfs on mtd0: ");
		odec(r);
		oend();
	}
	r = sys5(SYS_mount, "/dev/vda", "/mnt/disk", "ext2", 0, 0);
	if (r < 0) {
		os("@@SETUP mount ext2 on /dev/vda: ");
		odec(r);
		oend();
	}
	klog_dump(-1, -1);
}

static NORETURN void director(void)
{
	char uts[6][65];
	char *p, *e;
	sl n;

	{
		sl m = sys6(SYS_mmap, 0, SCEN_SIZE + PBUF_SIZE + LINE_SIZE + 4096 * 16,
			    3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
		if (m < 0 && m > -4096)
			sys1(SYS_exit_group, 2);
		scen = (char *)m;
		pbuf = scen + SCEN_SIZE;
		fwd_line = pbuf + PBUF_SIZE;
		vals = (sl(*)[2])(fwd_line + LINE_SIZE);
	}
	setup_board();
	memcpy(self_path, "/rom/bin/hello", 15);
	sys1(SYS_uname, uts);
	os("@@BOOT ");
	os(uts[2]);
	oc(' ');
	os(uts[4]);
	oend();

	n = read_file("/scen.txt", scen, SCEN_SIZE);
	if (n < 0) {
		os("@@SETUP no /scen.txt");
		oend();
		n = 0;
	}
	for (p = scen; *p; p = e) {
		e = p;
		while (*e && *e != '\n')
			e++;
		if (*e)
			*e++ = 0;
		if (p[0] == 'S') {
			char *q = p + 1;
			sl np;
			cur_sc = pdec(&q);
			np = pdec(&q);
			for (int j = 0; j < MAXPROC; j++) {
				procs[j].alive = procs[j].ours = 0;
				pending[j] = -1;
			}
			write_file("/proc/sys/vm/nr_trim_pages", "1", 1);
			setup_pipes(np);
			klog_dump(cur_sc, -1);
			ohead("@@S", cur_sc, 0);
			os(q);
			oend();
		} else if (p[0] == 'P' || p[0] == 'Q') {
			run_step(p);
		} else if (p[0] == 'C') {
			cleanup(p);
		} else if (p[0] == 'E') {
			end_scenario();
			ohead("@@E", cur_sc, 0);
			oend();
		}
	}
	os("@@END");
	oend();
	sys0(SYS_sync);
	sys4(SYS_reboot, 0xfee1dead, 0x28121969, 0x4321fedc /* POWER_OFF */, 0);
	for (;;)
		msleep(1000);
}

/* ------------------------------------------------------------ entry point */

NORETURN void cmain(sl *sp)
{
	sl argc = sp[0];
	char **argv = (char **)(sp + 1);
	if (argc >= 5 && seq(argv[1], "w")) {
		char *q;
		sl slot, sc, step;
		q = argv[2];
		slot = pdec(&q);
		q = argv[3];
		sc = pdec(&q);
		q = argv[4];
		step = pdec(&q);
		/* a new image answers the spawn or exec step that started it */
		finish(sc, step, 0, 0);
		worker_loop(slot);
	}
	director();
}

/* apply R_RISCV_RELATIVE relocations; runs before any data pointer is used */
struct rela {
	ul off, info;
	sl addend;
};
extern char __ehdr_start[] __attribute__((visibility("hidden")));
extern ul _DYNAMIC[] __attribute__((visibility("hidden")));

void relocate(void)
{
	ul base = (ul)__ehdr_start;
	struct rela *rel = 0;
	ul relsz = 0;
	for (ul *d = _DYNAMIC; d[0]; d += 2) {
		if (d[0] == 7) /* DT_RELA */
			rel = (struct rela *)(base + d[1]);
		else if (d[0] == 8) /* DT_RELASZ */
			relsz = d[1];
	}
	for (ul i = 0; rel && i < relsz / sizeof(*rel); i++)
		if ((rel[i].info & 0xffffffff) == 3 /* R_RISCV_RELATIVE */)
			*(ul *)(base + rel[i].off) = base + (ul)rel[i].addend;
}

__asm__(".section .text._start\n"
	".globl _start\n"
	"_start:\n"
	"  mv s0, sp\n"
	"  andi sp, sp, -16\n"
	"  call relocate\n"
	"  mv a0, s0\n"
	"  call cmain\n"
	"1: j 1b\n");
