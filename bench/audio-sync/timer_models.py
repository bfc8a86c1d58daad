#!/usr/bin/env python3
"""Replays listeners' device traces (TRACE=1 bench/audio-sync/run.sh …) through alternative
callback-timer models and estimates what each would have changed in the measured A−B offset.

usage: timer_models.py BENCH_WORK_DIR      (the "recordings and logs" dir run.sh prints)

'current' reimplements crates/audio/src/callback_timer.rs (checked: it reproduces the logged
instants to a nanosecond). The estimate assumes each listener's engine would track a different
model as closely as it tracked this one — a proxy, good for ranking ideas, not for quoting.
"""
import sys, json, glob, numpy as np
RATE=48000
def load(path):
    rows=[l.split() for l in open(path)]
    t=np.array([int(r[0]) for r in rows],float); lat=np.array([int(r[1]) for r in rows],float)
    n=np.array([int(r[2]) for r in rows],float); s=np.array([float(r[3]) if r[3]!='-' else np.nan for r in rows])
    return t,lat,n,s
def model_current(t,lat,n):
    # reproduce: warmup 4, nominal line from first reading after warmup; LS on callback residual (slope after 2s, recent 1s mean before); latency mean over window 960
    out=np.full(len(t),np.nan); W=960
    base=t[4]; f=np.concatenate([[0],np.cumsum(n[4:])[:-1]])
    for i in range(4,len(t)):
        j=i-4; lo=max(0,j-W+1)
        xs=f[lo:j+1]/RATE; cs=t[4+lo:i+1]-base-f[lo:j+1]/RATE*1e9; ls=lat[4+lo:i+1]
        if j+1<31: continue
        x0=xs[-1]; X=xs-x0
        if X[-1]-X[0]<2.0:
            m=X>=X[-1]-1.0; a=cs[m].mean(); b=0
        else:
            b,a=np.polyfit(X,cs,1)
            r=cs-(a+b*X); k=np.abs(r)<=8e6
            b,a=np.polyfit(X[k],cs[k],1)
        L=ls.mean(); L=ls[np.abs(ls-L)<=8e6].mean()
        out[i]=base+f[j]/RATE*1e9+a+L
    return out
def model_generic(t,lat,n,W_call,W_lat,slope_after,recent,lat_stat='mean',sumfit=False):
    out=np.full(len(t),np.nan)
    base=t[4]; f=np.concatenate([[0],np.cumsum(n[4:])[:-1]])
    for i in range(4,len(t)):
        j=i-4
        if j+1<31: continue
        lo=max(0,j-W_call+1)
        xs=f[lo:j+1]/RATE; X=xs-xs[-1]
        cs=t[4+lo:i+1]-base-f[lo:j+1]/RATE*1e9
        if sumfit: cs=cs+lat[4+lo:i+1]
        if X[-1]-X[0]<slope_after:
            m=X>=X[-1]-recent; a=cs[m].mean()
        else:
            b,a=np.polyfit(X,cs,1); r=cs-(a+b*X); k=np.abs(r)<=8e6; b,a=np.polyfit(X[k],cs[k],1)
        if sumfit: L=0
        else:
            lo2=max(0,j-W_lat+1); ls=lat[4+lo2:i+1]
            if lat_stat=='median': L=np.median(ls)
            elif lat_stat=='p10': L=np.percentile(ls,10)
            elif lat_stat=='p25': L=np.percentile(ls,25)
            elif lat_stat=='first': L=np.median(lat[4:4+31])
            elif lat_stat=='minmed':
                k=23; meds=[np.median(ls[q:q+k]) for q in range(0,len(ls),k)]; L=min(meds)
            else: L=ls.mean()
        out[i]=base+f[j]/RATE*1e9+a+L
    return out

def evaluate(run, variants):
    A=load(f"{run}/a.trace"); B=load(f"{run}/b.trace")
    w=np.array(json.load(open(f"{run}/windows.json"))["windows"])
    if len(w)==0: return None
    res={}
    for name,fn in variants.items():
        d={}
        for side,(t,lat,n,s) in (('A',A),('B',B)):
            m=fn(t,lat,n)
            delta=(m-s)/1e6  # ms
            ok=~np.isnan(delta)
            trec=2.1+(t-t[0])/1e9
            d[side]=np.interp(w[:,0], trec[ok], delta[ok]) if ok.any() else np.zeros(len(w))
        off=w[:,1]+d['A']-d['B']
        res[name]=off
    return w, res
if __name__=="__main__":
    runs=sorted(glob.glob(sys.argv[1]+"/flac-join-*"))
    import functools
    variants={
      'current': model_current,
      'lat_median': functools.partial(model_generic,W_call=960,W_lat=960,slope_after=2.0,recent=1.0,lat_stat='median'),
      'lat_p10': functools.partial(model_generic,W_call=960,W_lat=960,slope_after=2.0,recent=1.0,lat_stat='p10'),
      'lat_p25': functools.partial(model_generic,W_call=960,W_lat=960,slope_after=2.0,recent=1.0,lat_stat='p25'),
      'lat_first': functools.partial(model_generic,W_call=960,W_lat=960,slope_after=2.0,recent=1.0,lat_stat='first'),
      'lat_minmed': functools.partial(model_generic,W_call=960,W_lat=960,slope_after=2.0,recent=1.0,lat_stat='minmed'),
      'call_slope5': functools.partial(model_generic,W_call=960,W_lat=960,slope_after=5.0,recent=1.0),
    }
    allres={k:[] for k in variants}
    for run in runs:
        r=evaluate(run, variants)
        if r is None: continue
        w,res=r
        line=[run.split('/')[-1]]
        for k,v in res.items():
            allres[k].append(np.abs(v))
            line.append(f"{k}: med {np.median(np.abs(v)):.2f} max {np.abs(v).max():.2f}")
        print(" | ".join(line))
    for k,v in allres.items():
        v=np.concatenate(v); print(f"{k:12s} median {np.median(v):.3f} p99 {np.percentile(v,99):.3f}")
