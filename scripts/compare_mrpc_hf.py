"""Independent MRPC fine-tuning with Hugging Face transformers, for comparison.

Not part of the toolkit (it needs torch and transformers, which the toolkit does
not): the same recipe as docs/PERFORMANCE.md's MRPC figure, in a separate virtualenv:

  python3 -m venv /tmp/venv-hf && /tmp/venv-hf/bin/pip install torch==2.13.0 'transformers<5'
  /tmp/venv-hf/bin/python scripts/compare_mrpc_hf.py <hf model folder> [<MRPC folder>]

Prints dev accuracy and F1.
"""
import csv, time, random, sys, numpy as np, torch
from transformers import BertTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup
torch.manual_seed(0); random.seed(0); np.random.seed(0); torch.set_num_threads(2)
M = sys.argv[1]; D = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/MRPC"
def read(p):
    rows = list(csv.reader(open(p, encoding="utf-8-sig"), delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(r[3], r[4], int(r[0])) for r in rows]
train, dev = read(f"{D}/train.tsv"), read(f"{D}/dev.tsv")
tok = BertTokenizer.from_pretrained(M)
# use_safetensors: never unpickle a pytorch_model.bin (it can run code).
model = BertForSequenceClassification.from_pretrained(M, num_labels=2, use_safetensors=True)
def enc(rows):
    e = tok([a for a,_,_ in rows], [b for _,b,_ in rows], truncation=True, max_length=128, padding="max_length", return_tensors="pt")
    return e, torch.tensor([l for *_, l in rows])
no_decay = ["bias", "LayerNorm.weight"]
params = [{"params": [p for n,p in model.named_parameters() if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
          {"params": [p for n,p in model.named_parameters() if any(nd in n for nd in no_decay)], "weight_decay": 0.0}]
opt = torch.optim.AdamW(params, lr=5e-5, eps=1e-6)
bs = 32; steps = int(len(train)/bs*3); sched = get_linear_schedule_with_warmup(opt, int(0.1*steps), steps)
t0 = time.time(); model.train(); step = 0
order = []
while step < steps:
    idx = list(range(len(train))); random.shuffle(idx)
    for i in range(0, len(idx)-bs+1, bs):
        if step >= steps: break
        batch = [train[j] for j in idx[i:i+bs]]; e, y = enc(batch)
        out = model(**e, labels=y); out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); sched.step(); opt.zero_grad(); step += 1
        if step % 50 == 0: print("step", step, float(out.loss), time.time()-t0, flush=True)
model.eval(); preds = []
with torch.no_grad():
    for i in range(0, len(dev), 64):
        e, _ = enc(dev[i:i+64]); preds += model(**e).logits.argmax(-1).tolist()
labels = [l for *_, l in dev]; acc = np.mean(np.array(preds)==np.array(labels))
tp = sum(p==1 and l==1 for p,l in zip(preds,labels)); fp = sum(p==1 and l==0 for p,l in zip(preds,labels)); fn = sum(p==0 and l==1 for p,l in zip(preds,labels))
print("HF dev acc", acc, "f1", 2*tp/(2*tp+fp+fn), "train seconds", time.time()-t0)
