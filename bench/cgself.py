#!/usr/bin/env python3
"""Self instructions per request by function, from one callgrind file of bench/instructions.ts.

    python3 bench/cgself.py <dir>/cg.out.1-01 /tmp/perf-<pid>.map <requests> [rows]

<dir> is what `bench/instructions.ts ... keep=1 node=--perf-basic-prof` prints ("callgrind files
kept in"); cg.out.1-01 is the measured part's main thread; <pid> is the file's "pid:" line (the
server's), whose perf map node wrote for --perf-basic-prof; <requests> is the run's n. Prints
the total and each function's self instructions divided by <requests>, largest first, `rows` of
them (60); JIT code is named from the perf map ("JIT JS:*scanHead ..." for TurboFan code, ^ for
Sparkplug, ~ for the interpreter's), anything else by callgrind's own name.

Why not callgrind_annotate: its exclusive view is broken on these files (we found it so on
this project's dumps, with JIT code); this sums each function's own cost lines, never its
`calls=` lines (what a call cost, inclusive), and names JIT code from the perf map.
"""
import sys, re, bisect

f, mapf = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
starts=[]; ents=[]
for line in open(mapf):
    a,s,name=line.rstrip('\n').split(' ',2)
    starts.append(int(a,16)); ents.append((int(a,16),int(s,16),name))
order=sorted(range(len(starts)),key=lambda i:starts[i]); starts=[starts[i] for i in order]; ents=[ents[i] for i in order]
def jit(name):
    m=re.match(r'0x([0-9a-f]+)$',name)
    if not m: return name
    a=int(m.group(1),16); i=bisect.bisect_right(starts,a)-1
    if i>=0 and ents[i][0]<=a<ents[i][0]+ents[i][1]: return 'JIT '+ents[i][2]
    return name
names={}; selfc={}; incl={}
cur=None; incall=False; cfn=None
def resolve(tok):
    m=re.match(r'\((\d+)\)(?: (.*))?$',tok)
    if m:
        if m.group(2) is not None: names[m.group(1)]=m.group(2)
        return names[m.group(1)]
    return tok
for line in open(f):
    if line.startswith('fn='): cur=jit(resolve(line[3:].strip())); incall=False; continue
    if line.startswith('cfn='): cfn=jit(resolve(line[4:].strip())); continue
    if line.startswith('calls='): incall=True; continue
    if line and (line[0].isdigit() or line[0] in '+-*'):
        parts=line.split()
        if len(parts)<2: continue
        c=int(parts[1])
        if incall:
            incall=False
            if cfn!=cur: incl[cfn]=incl.get(cfn,0)+c
        else: selfc[cur]=selfc.get(cur,0)+c
tot=sum(selfc.values())
import os
pat=os.environ.get('INCL')
if pat:
    for k,v in sorted(incl.items(),key=lambda x:-x[1]):
        if any(p in k for p in pat.split(',')): print(f'incl {v/n:9.1f}  {k[:150]}')
print('total',tot, 'per req', tot/n)
for k,v in sorted(selfc.items(),key=lambda x:-x[1])[:int(sys.argv[4]) if len(sys.argv)>4 else 60]:
    print(f'{v/n:9.1f} {100*v/tot:5.1f}%  {k[:150]}')
