"""cfsal: counterfactual testing of saliency-derived hypotheses about deep RL agents."""

__version__ = "0.1.0"
