"""Audio (notebook 26): `sounds` (generated clips, eight kinds to pretrain on, four alarms to fine-tune on), `features`
(log-mel in torch, equal to Whisper's front end), `encoder` (a small CNN: pretraining, few-label fine-tuning, Whisper)."""
