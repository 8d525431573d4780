"""Who is calling and what they may see: one policy used by every data access."""
