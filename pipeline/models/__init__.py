"""Try-on networks (GMM warp, TOM generator, PatchGAN discriminator) and their losses."""

from pipeline.models.discriminator import (
    DiscriminatorConfig,
    PatchDiscriminator,
    discriminator_loss,
    generator_adversarial_loss,
)
from pipeline.models.gmm import GMM, GMMConfig, warp
from pipeline.models.losses import GMMLossWeights, TOMLoss, TOMLossWeights, gmm_loss, grid_smoothness
from pipeline.models.tom import TOM, TOMConfig, TOMOutput
from pipeline.models.vgg import MissingWeightsError, VGGFeatures

__all__ = [
    "GMM",
    "GMMConfig",
    "GMMLossWeights",
    "TOM",
    "TOMConfig",
    "TOMLoss",
    "TOMLossWeights",
    "TOMOutput",
    "DiscriminatorConfig",
    "PatchDiscriminator",
    "MissingWeightsError",
    "VGGFeatures",
    "discriminator_loss",
    "generator_adversarial_loss",
    "gmm_loss",
    "grid_smoothness",
    "warp",
]
