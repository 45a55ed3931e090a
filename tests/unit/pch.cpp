// Carries the precompiled header (Catch2, nlohmann-json, std) shared by every unit test.
