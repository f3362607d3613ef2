import torch

from genforge.core.checkpoint import join_tensors, split_tensors
from genforge.train.config import TrainConfig
from genforge.train.trainer import ema_with_warmup, lr_lambda


def test_optimizer_state_round_trips_without_pickle():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), 1e-3, betas=(0.5, 0.9))
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors: dict = {}
    skeleton = split_tensors(opt.state_dict(), "", tensors)
    import json

    restored = join_tensors(json.loads(json.dumps(skeleton)), tensors)
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), 1e-3)
    fresh.load_state_dict(restored)
    assert fresh.param_groups[0]["betas"] == [0.5, 0.9] or tuple(
        fresh.param_groups[0]["betas"]
    ) == (0.5, 0.9)
    for k in (0, 1):
        assert torch.equal(
            fresh.state[fresh.param_groups[0]["params"][k]]["exp_avg"],
            opt.state_dict()["state"][k]["exp_avg"],
        )


def test_lr_schedules():
    f = lr_lambda(TrainConfig(steps=110, warmup_steps=10, lr_schedule="linear"))
    assert f(0) == 0.1 and f(9) == 1.0 and f(60) == 0.5 and f(110) == 0.0
    g = lr_lambda(TrainConfig(steps=100, lr_schedule="cosine"))
    assert g(0) == 1.0 and abs(g(50) - 0.5) < 1e-9 and g(100) < 1e-9


def test_ema_warmup_follows_recent_weights_early():
    update = ema_with_warmup(0.999)
    ema, new = [torch.zeros(3)], [torch.ones(3)]
    update(ema, new, torch.tensor(0))  # decay min(0.999, 1/10) = 0.1 -> moves 90% of the way
    assert torch.allclose(ema[0], torch.full((3,), 0.9))
    ema = [torch.zeros(3)]
    update(ema, new, torch.tensor(10**6))  # late: decay 0.999
    assert torch.allclose(ema[0], torch.full((3,), 0.001))
