#!/usr/bin/env python3
# Monte Carlo of clock-offset estimators (docs/sync.md): error of the offset at the newest exchange,
# median and p99 over 300 runs, per exchange rate (per s) and window (s). Holds 5 % of packets 30-130 ms.
#   python3 bench/clock_filter.py [JITTER_WIDTH_MS]      # 10 = ±5 ms each way
# besthalf: the old fit (least squares through the better half by round trip); hullmin: the floors
# (ClockOffset today); binmin/binls: per-bin floors (tried, worse: bins full of held packets).
import random, statistics, sys
def hull_slope(xs, ys):
    h=[]
    for p in zip(xs,ys):
        while len(h)>=2:
            a,b=h[-2],h[-1]
            if (b[0]-a[0])*(p[1]-a[1])-(b[1]-a[1])*(p[0]-a[0])<=0: h.pop()
            else: break
        h.append(p)
    mid=sum(xs)/len(xs)
    for a,b in zip(h,h[1:]):
        if b[0]>=mid and b[0]>a[0]: return (b[1]-a[1])/(b[0]-a[0])
    return 0
def lsq(xs, ys):
    n=len(xs); mx=sum(xs)/n; my=sum(ys)/n
    sxx=sum((x-mx)**2 for x in xs); sxy=sum((x-mx)*(y-my) for x,y in zip(xs,ys))
    b=sxy/sxx if sxx>0 else 0
    return my-b*mx, b
def bins(xs, f, b, width):
    out={}
    for x,fi,bi in zip(xs,f,b):
        k=int((x)//width)
        o=out.setdefault(k,[(1e18,0),(1e18,0)])
        if fi<o[0][0]: o[0]=(fi,x)
        if bi<o[1][0]: o[1]=(bi,x)
    X=[];T=[]
    for k,(ff,bb) in out.items():
        X.append((ff[1]+bb[1])/2); T.append((ff[0]-bb[0])/2)
    return X,T
def est(method, xs, f, b):
    if method=='besthalf':
        th=[(fi-bi)/2 for fi,bi in zip(f,b)]; rtt=[fi+bi for fi,bi in zip(f,b)]
        idx=sorted(range(len(xs)), key=lambda i: rtt[i])[:len(xs)//2]
        a,s=lsq([xs[i] for i in idx],[th[i] for i in idx]); return a
    if method=='hullmin':
        d=(hull_slope(xs,f)-hull_slope(xs,b))/2
    elif method in ('binmin','binls'):
        X,T=bins(xs,f,b,5.0)
        a,d=lsq(X,T)
        if method=='binls': return a
    fm=min(fi-d*x for fi,x in zip(f,xs)); bm=min(bi+d*x for bi,x in zip(b,xs))
    return (fm-bm)/2
def run(method, rate, window, W, drift=50e-3, trials=300, hold=0.05):
    errs=[]
    for t in range(trials):
        n=int(window*rate)
        xs=[(i-(n-1))/rate for i in range(n)]  # seconds, ref=0
        off=lambda x: 7.0+drift*x
        def d():
            h = random.uniform(30,130) if random.random()<hold else 0
            return 20+random.uniform(-W/2,W/2)+h
        f=[off(x)+d() for x in xs]; b=[d()-off(x) for x in xs]
        errs.append(abs(est(method,xs,f,b)-off(0)))
    errs.sort()
    return statistics.median(errs), errs[int(len(errs)*0.99)]
W=float(sys.argv[1]) if len(sys.argv)>1 else 10
for rate in (1,4):
    for window in (30,60,120):
        print(rate, window, {m: tuple(round(v,3) for v in run(m,rate,window,W)) for m in ('besthalf','hullmin','binmin','binls')})
