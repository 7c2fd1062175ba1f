"""Fine-tuning techniques of part III: PEFT (adapters, quantisation, QLoRA), half fine-tuning, fast runs,
memory experts, mixture of experts and agents, pruning and distillation. Used by notebooks 10-16."""
