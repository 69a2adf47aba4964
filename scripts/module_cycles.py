import re,os,sys,itertools
root='backend/src'
mods={}
for dp,dn,fn in os.walk(root):
    for f in fn:
        if f.endswith('.rs'):
            p=os.path.join(dp,f)
            rel=os.path.relpath(p,root)[:-3]
            parts=rel.split('/')
            if parts[-1]=='mod': parts=parts[:-1]
            if parts==['lib']: continue
            mods['::'.join(parts)]=open(p).read()
def strip_tests(s):
    i=s.find('#[cfg(test)]')
    return s if i<0 else s[:i]
edges={m:set() for m in mods}
for m,s in mods.items():
    s=strip_tests(s)
    parent=m.split('::')[:-1]
    for mm in re.finditer(r'\b(crate|super)::([a-z_]+(?:::[a-z_]+)*)',s):
        base = [] if mm.group(1)=='crate' else parent
        path=base+mm.group(2).split('::')
        # longest prefix that's a module
        for k in range(len(path),0,-1):
            cand='::'.join(path[:k])
            if cand in mods and cand!=m:
                edges[m].add(cand);break
    # use super::{a, b}
    for mm in re.finditer(r'use (crate|super)::\{([^}]*)\}',s):
        base = [] if mm.group(1)=='crate' else parent
        for name in re.findall(r'\b([a-z_]+)\b',mm.group(2)):
            cand='::'.join(base+[name])
            if cand in mods and cand!=m: edges[m].add(cand)
# collapse: compare siblings: edge a->b mapped to sibling level at common parent
def sib(a,b):
    pa=a.split('::');pb=b.split('::')
    i=0
    while i<min(len(pa),len(pb)) and pa[i]==pb[i]: i+=1
    if i==len(pa) or i==len(pb): return None  # ancestor relation
    return ('::'.join(pa[:i+1]),'::'.join(pb[:i+1]))
g={}
for a,bs in edges.items():
    for b in bs:
        e=sib(a,b)
        if e: g.setdefault(e[0],set()).add(e[1])
# find cycles via SCC
idx={};low={};st=[];on=set();res=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in g.get(v,()):
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        if len(comp)>1: res.append(comp)
for v in list(g):
    if v not in idx: sc(v)
for r in res:
    print('CYCLE:',r)
    for a in r:
        print('  ',a,'->',sorted(x for x in g.get(a,()) if x in r))
