"""LatentForensics (seed 000): an FFHQ-aligned face is projected to a low-dimensional code
(PCA, VQ-VAE-2 or StyleGAN2 inversion) and a classical classifier (random forest, logistic
regression, small MLP) separates real codes from fake ones. See README.md."""

from fakescope.families.latentforensics import detector  # noqa: F401  (registers the detector)
from fakescope.families.latentforensics import vqvae  # noqa: F401,E402  (registers "vqvae")
from fakescope.families.latentforensics import stylegan  # noqa: F401,E402  (registers "stylegan")
from fakescope.families.latentforensics.train import run_yaml  # noqa: E402
from fakescope.train.recipes import register_recipe  # noqa: E402

register_recipe("latentforensics")(run_yaml)
