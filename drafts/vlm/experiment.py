import time, torch, sys
torch.set_num_threads(1)
from labkit import models
import images as I, vlm as V  # run from drafts/vlm
t0=time.time()
tr = I.make_scenes(2000, 1); te = I.make_scenes(120, 2)
xtr, xte = I.render(tr, 11), I.render(te, 12)
enc, l = V.pretrain_vision(xtr, I.attribute_labels(tr), 150, 0)
print("pretrain", time.time()-t0, V.attribute_accuracy(enc, xte, I.attribute_labels(te)))
tok = models.load_tokenizer(models.SMOLLM2); lm = models.load_model(models.SMOLLM2)
lm.requires_grad_(False)
torch.manual_seed(0)
vlm = V.VLM(enc, lm, tok)
def ev(tag):
    t=time.time()
    r = {q: V.score(vlm.answer(xte, q), te, q) for q in ("colour","shape","count","caption")}
    print(tag, r, round(time.time()-t,1)); 
ev("before")
print(vlm.answer(xte[:3], "colour"), vlm.answer(xte[:3], "caption"))
t0=time.time(); r = V.train_stage(vlm, xtr, tr, int(sys.argv[1]), 0, lr=1e-3); print("stage1", time.time()-t0, r.losses[::5])
ev("stage1"); print(vlm.answer(xte[:3], "caption"), [s.caption() for s in te[:3]])
from peft import LoraConfig, get_peft_model
vlm.lm = get_peft_model(lm, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj","v_proj"], lora_dropout=0.0))
t0=time.time(); r = V.train_stage(vlm, xtr, tr, int(sys.argv[2]), 1, lr=1e-3); print("stage2", time.time()-t0, r.losses[::5])
ev("stage2"); print(vlm.answer(xte[:3], "caption"))
