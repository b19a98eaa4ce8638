"""quant_sentiment"""

__version__ = "0.1"
