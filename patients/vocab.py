"""Clinical vocabulary shared by treatments and photos, in the clinic's own words."""

from django.db import models


class TreatmentType(models.TextChoices):
    TOXIN = "toxin", "Botulinum toxin"
    FILLER = "filler", "Dermal filler"
    SKIN_BOOSTER = "skin_booster", "Skin booster"
    PEEL = "peel", "Chemical peel"
    MICRONEEDLING = "microneedling", "Microneedling"
    LASER = "laser", "Laser / light"
    THREADS = "threads", "PDO threads"
    FAT_DISSOLVING = "fat_dissolving", "Fat dissolving"
    OTHER = "other", "Other"


class FacialArea(models.TextChoices):
    FOREHEAD = "forehead", "Forehead"
    GLABELLA = "glabella", "Glabella (frown lines)"
    CROWS_FEET = "crows_feet", "Crow's feet"
    TEAR_TROUGH = "tear_trough", "Tear trough"
    CHEEKS = "cheeks", "Cheeks"
    NOSE = "nose", "Nose"
    NASOLABIAL = "nasolabial", "Nasolabial folds"
    LIPS = "lips", "Lips"
    PERIORAL = "perioral", "Perioral lines"
    MARIONETTE = "marionette", "Marionette lines"
    CHIN = "chin", "Chin"
    JAWLINE = "jawline", "Jawline"
    NECK = "neck", "Neck"
    FULL_FACE = "full_face", "Full face"
