"""Template tags of wsgateway (``{% load wsgateway_tags %}``)."""
