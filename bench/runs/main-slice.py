import ctypes, struct, sys, os
libc = ctypes.CDLL(None, use_errno=True)
SYS_sched_setattr, SYS_sched_getattr = 314, 315
def set_slice(tid, ns):
    # struct sched_attr: u32 size, u32 policy, u64 flags, s32 nice, u32 prio, u64 runtime, deadline, period, u32 util_min, util_max
    attr = struct.pack("IIQiIQQQII", 56, 0, 0, 0, 0, ns, 0, 0, 0, 0)
    buf = ctypes.create_string_buffer(attr, 56)
    r = libc.syscall(SYS_sched_setattr, tid, buf, 0)
    if r != 0: print("setattr", tid, os.strerror(ctypes.get_errno())); return
def get(tid):
    buf = ctypes.create_string_buffer(56)
    r = libc.syscall(SYS_sched_getattr, tid, buf, 56, 0)
    v = struct.unpack("IIQiIQQQII", buf.raw)
    return v
tid = int(sys.argv[1]); ns = int(sys.argv[2])
if ns >= 0: set_slice(tid, ns)
print(get(tid))
