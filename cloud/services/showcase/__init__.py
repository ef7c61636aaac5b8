"""The showcase: enterprises, industrial parks and products with photos; certified
(三品一标) products and participating enterprises per county."""
