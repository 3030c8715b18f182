"""How the model and the baselines score a product for a customer: purchases, terms and score forms."""
