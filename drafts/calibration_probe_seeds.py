"""Probe for notebook 20: temperature scaling on generated sums and "letter after" sets under three set seeds (run from notebooks/)."""
import time, numpy as np, random, string, sys
import labkit
from labkit import models
from labkit.evaluation import calibration, choice
profile = labkit.profile(); labkit.set_seed(0)
tok = models.load_tokenizer(profile.lm)
model = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
L=string.ascii_uppercase
for seed in (0,1,2):
    rng=random.Random(seed)
    def single():
        a,b=rng.randint(1,9),rng.randint(1,9); c=a+b; w=rng.sample([x for x in range(2,19) if x!=c],3); o=[c]+w; rng.shuffle(o)
        return f"Question: What is {a} plus {b}?\nAnswer:",[f" {x}" for x in o],o.index(c)
    def after():
        i=rng.randint(0,23); c=L[i+1]; w=rng.sample([x for x in L if x!=c],3); o=[c]+w; rng.shuffle(o)
        return f"Question: Which letter comes right after {L[i]} in the alphabet?\nAnswer:",[f" {x}" for x in o],o.index(c)
    for name,g in [("sums",single),("after",after)]:
        rows=[g() for _ in range(100)]; t=time.time()
        S=np.array([choice.option_logprobs(model,tok,p,o) for p,o,_ in rows]); Y=np.array([y for *_,y in rows])
        n=len(S); idx=np.arange(n); cb=np.zeros(n); ca=np.zeros(n); Ts=[]
        for f in (0,1):
            fit=idx%2==f; held=~fit; T=calibration.fit_temperature(S[fit],Y[fit]); Ts.append(round(T,2))
            cb[held]=calibration.softmax(S[held]).max(1); ca[held]=calibration.softmax(S[held],T).max(1)
        corr=S.argmax(1)==Y
        print(f"seed {seed} {name} acc {corr.mean():.2f} conf {cb.mean():.2f}->{ca.mean():.2f} ECE {calibration.ece(cb,corr):.3f}->{calibration.ece(ca,corr):.3f} T {Ts} {time.time()-t:.1f}s",flush=True)
