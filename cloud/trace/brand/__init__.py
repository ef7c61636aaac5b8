"""德宏品牌 admission (floor 4): rules as versioned data (:mod:`.rules`), each rule's
state for a lot with its evidence (:mod:`.evaluate`), and the append-only decisions
recorded when a lot gains or loses the brand (:mod:`.service`: evaluated at read, on
relevant writes and by the sweep). See cloud/trace/README.md.
"""
