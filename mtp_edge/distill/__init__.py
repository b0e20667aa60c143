"""Self-distillation training for mask-token multi-token prediction (METHOD.md section 5).

Torch-only: the runtime never imports this package. Modules, one concept each:

- `tokens`     the mask tokens, their embedding initialisation, `mtp_config.json`.
- `modeling`   load a base (checkpoint folder, hub id, GGUF file), LoRA, save checkpoint/adapter folders.
- `data`       GSM8K-style jsonl, chat-template encoding, `--self-generate` teacher answers.
- `packing`    M mask regions per sequence and the block attention mask.
- `objective`  hard-teacher loss and the acceptance estimate.
- `train`      the training loop, checkpoints and resume.
- `reference`  the PyTorch reference decoder (ConfAdapt / static-k), an oracle for the C++ loop.
- `evaluate`   GSM8K accuracy, Eff. k and agreement tables.
"""
