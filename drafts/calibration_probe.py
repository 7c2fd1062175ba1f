"""Probe for notebook 20: which generated multiple-choice task lets temperature scaling lower ECE (run from notebooks/)."""
import time, numpy as np, random, string
t0=time.time()
import labkit
from labkit import data, evaluate, models
from labkit.evaluation import calibration, choice
profile = labkit.profile(); labkit.set_seed(0)
tok = models.load_tokenizer(profile.lm)
model = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
rng=random.Random(0)
def single():
    a,b=rng.randint(1,9),rng.randint(1,9); c=a+b; w=rng.sample([x for x in range(2,19) if x!=c],3); o=[c]+w; rng.shuffle(o)
    return f"Question: What is {a} plus {b}?\nAnswer:",[f" {x}" for x in o],o.index(c)
def larger():
    a,b=rng.sample(range(10,99),2); o=[a,b]
    return f"Question: Which number is larger, {a} or {b}?\nAnswer:",[f" {x}" for x in o],o.index(max(a,b))
L=string.ascii_uppercase
def after():
    i=rng.randint(0,23); c=L[i+1]; w=rng.sample([x for x in L if x!=c],3); o=[c]+w; rng.shuffle(o)
    return f"Question: Which letter comes right after {L[i]} in the alphabet?\nAnswer:",[f" {x}" for x in o],o.index(c)
def plural():
    words=["cat","dog","house","tree","car","book","bird","apple","chair","river","cloud","horse","train","phone","table","shoe"]
    w=rng.choice(words); c=w+"s"; o=[c,w+"es",w+"ies",w]; rng.shuffle(o)
    return f"Question: What is the plural of '{w}'?\nAnswer:",[f" {x}" for x in o],o.index(c)
for name,g in [("single",single),("larger",larger),("after",after),("plural",plural)]:
    rows=[g() for _ in range(60)]; t=time.time()
    S=np.array([choice.option_logprobs(model,tok,p,o) for p,o,_ in rows]); Y=np.array([y for *_,y in rows])
    n=len(S); idx=np.arange(n); cb=np.zeros(n); ca=np.zeros(n); Ts=[]
    for f in (0,1):
        fit=idx%2==f; held=~fit; T=calibration.fit_temperature(S[fit],Y[fit]); Ts.append(round(T,2))
        cb[held]=calibration.softmax(S[held]).max(1); ca[held]=calibration.softmax(S[held],T).max(1)
    corr=S.argmax(1)==Y
    print(f"{name} acc {corr.mean():.2f} conf {cb.mean():.2f}->{ca.mean():.2f} ECE {calibration.ece(cb,corr):.3f}->{calibration.ece(ca,corr):.3f} T {Ts} {time.time()-t:.1f}s",flush=True)
