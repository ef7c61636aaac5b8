"""E-commerce statistics: shops, orders, imports and the programme's indicators."""
