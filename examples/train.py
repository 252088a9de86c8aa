"""A toy training script for the tsq demo (see examples/demo.sh)."""

import logging
import math
import random
import time

import hydra
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train(cfg: DictConfig) -> dict:
    if cfg.lr <= 0:
        raise ValueError(f"lr must be positive, got {cfg.lr}")
    rng = random.Random(cfg.seed)
    loss = 1.0
    for epoch in range(cfg.epochs):
        time.sleep(cfg.epoch_seconds)
        loss *= math.exp(-cfg.lr * 10) + rng.uniform(0, 0.05)
        log.info("epoch %d loss %.4f", epoch, loss)
    return {"loss": round(loss, 6), "lr": cfg.lr, "seed": cfg.seed}


if __name__ == "__main__":
    train()
