"""Vocabulary of the generated WebShop catalog: categories, product types, attributes and options.

Written for this project. Within a product type no attribute is a token subset or substring of
another, and within an option group no value is, so that WebShop's fuzzy matching (token-set ratio
> 85) tells them apart and a near-miss product really misses (checked by the tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """One kind of product: how it is named, searched, categorised, described and customised."""

    category: str
    query: str
    noun: str
    path: str
    attributes: tuple[str, ...]
    option_groups: tuple[str, ...]
    suffixes: tuple[str, ...]


OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "color": ("black", "white", "navy", "red", "green", "beige", "pink", "grey", "purple", "yellow"),
    "size": ("xs", "small", "medium", "large", "xl", "xxl"),
    "shoe size": ("6", "7", "8", "9", "10", "11", "12"),
    "scent": ("lavender", "vanilla", "citrus", "eucalyptus", "rose", "sandalwood", "unscented"),
    "flavor": ("chocolate", "strawberry", "peanut butter", "sea salt", "cinnamon", "mango", "original"),
    "pack size": ("single", "pair", "trio", "six pack", "dozen", "bulk box"),
    "capacity": ("16 oz", "24 oz", "32 oz", "40 oz", "64 oz"),
    "style": ("modern", "rustic", "classic", "minimalist", "bohemian", "industrial"),
    "length": ("3 feet", "6 feet", "10 feet", "25 feet"),
    "material": ("cotton", "linen", "velvet", "polyester", "wool", "bamboo"),
}


def _t(category: str, query: str, noun: str, path: str, attrs: str, groups: str, suffixes: str = "") -> ProductType:
    return ProductType(
        category=category,
        query=query,
        noun=noun,
        path=path,
        attributes=tuple(a.strip() for a in attrs.split(",")),
        option_groups=tuple(g.strip() for g in groups.split(",") if g.strip()),
        suffixes=tuple(s.strip() for s in suffixes.split(",") if s.strip()),
    )


BEAUTY = "Beauty & Personal Care"
FASHION = "Clothing, Shoes & Jewelry"
FOOD = "Grocery & Gourmet Food"
HOME = "Home & Kitchen"
ELECTRONICS = "Electronics"
SPORTS = "Sports & Outdoors"
PETS = "Pet Supplies"
OFFICE = "Office Products"

PRODUCT_TYPES: tuple[ProductType, ...] = (
    _t("beauty", "shampoo", "shampoo", f"{BEAUTY} › Hair Care › Shampoo & Conditioner › Shampoos",
       "sulfate free, paraben free, color safe, dry scalp, curly hair, tea tree oil, argan oil, volumizing formula", "scent, pack size", "for Women and Men, Salon Formula"),
    _t("beauty", "face moisturizer", "moisturizer", f"{BEAUTY} › Skin Care › Face › Moisturizers",
       "hyaluronic acid, oil free, sensitive skin, spf 30, fragrance free, anti aging, vitamin c, non comedogenic", "scent, capacity", "Daily Face Cream, for All Skin Types"),
    _t("beauty", "lipstick", "lipstick", f"{BEAUTY} › Makeup › Lips › Lipstick",
       "long lasting, matte finish, cruelty free, vegan formula, moisturizing shea, smudge proof, waterproof wear", "color", "Lip Color, Full Coverage"),
    _t("beauty", "hair dryer", "hair dryer", f"{BEAUTY} › Hair Care › Styling Tools › Hair Dryers",
       "ionic technology, low noise, diffuser attachment, ceramic plate, travel friendly, fast drying, cool shot button", "color", "Blow Dryer, 1875W"),
    _t("beauty", "body wash", "body wash", f"{BEAUTY} › Bath & Body › Cleansers › Body Washes",
       "natural ingredients, coconut milk, hydrating gel, dermatologist tested, exfoliating beads, soap free", "scent, capacity", "Shower Gel, Family Size"),
    _t("fashion", "running shoes", "running shoes", f"{FASHION} › Men › Shoes › Athletic › Running",
       "breathable mesh, memory foam, slip resistant, arch support, lightweight sole, wide toe box, shock absorbing", "color, shoe size", "Walking Sneakers, Gym Trainers"),
    _t("fashion", "hoodie", "hoodie", f"{FASHION} › Women › Clothing › Fashion Hoodies & Sweatshirts",
       "fleece lined, machine washable, kangaroo pocket, drawstring hood, relaxed fit, brushed interior", "color, size", "Pullover Sweatshirt, Long Sleeve"),
    _t("fashion", "yoga pants", "yoga pants", f"{FASHION} › Women › Clothing › Active › Leggings",
       "high waist, tummy control, squat proof, four way stretch, side pockets, moisture wicking", "color, size", "Workout Leggings, Full Length"),
    _t("fashion", "leather wallet", "wallet", f"{FASHION} › Men › Accessories › Wallets",
       "genuine leather, rfid blocking, slim bifold, coin pocket, gift box, card slots", "color", "for Men, Minimalist Design"),
    _t("fashion", "winter boots", "boots", f"{FASHION} › Women › Shoes › Boots › Snow Boots",
       "faux fur lining, anti slip outsole, ankle height, water resistant, rubber sole, zipper closure", "color, shoe size", "Snow Boots, Outdoor Booties"),
    _t("food", "protein bar", "protein bar", f"{FOOD} › Snack Foods › Bars › Protein Bars",
       "gluten free, low sugar, high protein, plant based, keto friendly, non gmo, dairy free", "flavor, pack size", "Healthy Snack, Meal Replacement"),
    _t("food", "ground coffee", "coffee", f"{FOOD} › Beverages › Coffee › Ground Coffee",
       "medium roast, dark roast, fair trade, single origin, decaf blend, usda organic, whole bean", "flavor, pack size", "Ground Coffee Bag, Arabica Beans"),
    _t("food", "herbal tea", "tea", f"{FOOD} › Beverages › Tea › Herbal",
       "caffeine free, loose leaf, individually wrapped, sugar free, immune support, calming chamomile", "flavor, pack size", "Tea Bags, Herbal Infusion"),
    _t("food", "mixed nuts", "nuts", f"{FOOD} › Snack Foods › Nuts & Seeds › Mixed Nuts",
       "lightly salted, dry roasted, resealable bag, kosher certified, heart healthy, unsalted cashews", "flavor, pack size", "Snack Mix, Party Size"),
    _t("food", "olive oil", "olive oil", f"{FOOD} › Pantry Staples › Oils › Olive Oil",
       "extra virgin, cold pressed, first harvest, glass bottle, imported from italy, polyphenol rich", "capacity, pack size", "Cooking Oil, Premium Grade"),
    _t("home", "throw pillow", "pillow", f"{HOME} › Home Décor › Decorative Pillows › Throw Pillows",
       "hidden zipper, down alternative, square shape, double sided, hypoallergenic fill, removable cover", "color, material", "Cushion Cover, Living Room Decor"),
    _t("home", "bed sheets", "sheets", f"{HOME} › Bedding › Sheets & Pillowcases › Sheet Sets",
       "deep pocket, wrinkle resistant, cooling fabric, 400 thread count, fade resistant, breathable weave", "color, material", "Sheet Set, 4 Piece"),
    _t("home", "coffee table", "coffee table", f"{HOME} › Furniture › Living Room Furniture › Tables",
       "solid wood, storage shelf, easy assembly, tempered glass, metal frame, lift top", "color, style", "Center Table, for Living Room"),
    _t("home", "scented candle", "candle", f"{HOME} › Home Décor › Candles & Holders › Candles",
       "soy wax, lead free wick, 50 hour burn, essential oils, glass jar, gift ready", "scent, pack size", "Aromatherapy Candle, Jar Candle"),
    _t("home", "water bottle", "water bottle", f"{HOME} › Kitchen & Dining › Travel & To-Go Drinkware › Water Bottles",
       "bpa free, vacuum insulated, leak proof, stainless steel, dishwasher safe, straw lid", "color, capacity", "Sports Bottle, Reusable"),
    _t("electronics", "wireless earbuds", "earbuds", f"{ELECTRONICS} › Headphones › Earbud Headphones",
       "noise cancelling, bluetooth 5.3, charging case, ipx7 waterproof, built in microphone, touch control", "color", "Wireless Headphones, in Ear"),
    _t("electronics", "phone charger", "charger", f"{ELECTRONICS} › Cell Phones & Accessories › Chargers",
       "fast charging, usb c, dual port, foldable plug, overheat protection, gan technology", "color, pack size", "Wall Charger Block, Power Adapter"),
    _t("electronics", "hdmi cable", "cable", f"{ELECTRONICS} › Television & Video › Accessories › Cables › HDMI",
       "4k 60hz, braided nylon, gold plated, high speed, ethernet channel, 8k ready", "length, pack size", "HDMI Cord, for TV and Monitor"),
    _t("electronics", "bluetooth speaker", "speaker", f"{ELECTRONICS} › Portable Audio & Video › Portable Speakers",
       "deep bass, 24 hour playtime, outdoor rugged, stereo pairing, usb c charging, shockproof body", "color", "Portable Speaker, Wireless"),
    _t("electronics", "computer mouse", "mouse", f"{ELECTRONICS} › Computers & Accessories › Mice",
       "ergonomic design, silent click, rechargeable battery, adjustable dpi, usb receiver, left handed", "color", "Wireless Mouse, for Laptop"),
    _t("sports", "yoga mat", "yoga mat", f"{SPORTS} › Exercise & Fitness › Yoga › Mats",
       "non slip, extra thick, carrying strap, eco friendly, alignment lines, tear resistant", "color, length", "Exercise Mat, for Pilates"),
    _t("sports", "dumbbell set", "dumbbells", f"{SPORTS} › Exercise & Fitness › Strength Training › Dumbbells",
       "neoprene coated, hex shape, storage rack, anti roll, chrome handle, rubber encased", "color, pack size", "Hand Weights, Home Gym"),
    _t("sports", "camping tent", "tent", f"{SPORTS} › Outdoor Recreation › Camping & Hiking › Tents",
       "instant setup, rainfly included, mesh windows, 4 person, double layer, ultralight poles", "color", "Dome Tent, Backpacking"),
    _t("sports", "hiking backpack", "backpack", f"{SPORTS} › Outdoor Recreation › Camping & Hiking › Backpacks",
       "hydration compatible, padded shoulder straps, rain cover, laptop sleeve, 40 liter, ykk zippers", "color", "Daypack, Travel Rucksack"),
    _t("sports", "resistance bands", "bands", f"{SPORTS} › Exercise & Fitness › Accessories › Resistance Bands",
       "latex free, door anchor, cushioned handles, ankle straps, carry pouch, stackable tubes", "pack size", "Exercise Bands, Workout Set"),
    _t("pets", "dog food", "dog food", f"{PETS} › Dogs › Food › Dry",
       "grain free, real chicken, small breed, senior formula, omega 3, no artificial flavors", "flavor, pack size", "Dry Dog Food, Kibble"),
    _t("pets", "cat litter", "cat litter", f"{PETS} › Cats › Litter & Housebreaking › Litter",
       "clumping clay, odor control, dust free, flushable pine, multi cat, low tracking", "scent, pack size", "Cat Litter Box Filler, Natural"),
    _t("pets", "dog leash", "leash", f"{PETS} › Dogs › Collars, Harnesses & Leashes › Leashes",
       "reflective stitching, padded handle, heavy duty, retractable cord, tangle free, swivel clip", "color, length", "Dog Lead, for Walking"),
    _t("pets", "cat tree", "cat tree", f"{PETS} › Cats › Furniture › Cat Trees",
       "sisal scratching posts, plush perch, hanging toys, multi level, condo hideaway, sturdy base", "color", "Cat Tower, Activity Center"),
    _t("pets", "aquarium filter", "filter", f"{PETS} › Fish & Aquatic Pets › Aquarium Pumps & Filters",
       "quiet operation, three stage, adjustable flow, submersible pump, easy clean, biological media", "capacity", "Fish Tank Filter, Power Filter"),
    _t("office", "gel pens", "pens", f"{OFFICE} › Office & School Supplies › Writing Instruments › Gel Pens",
       "fine point, quick dry, smear proof, retractable tip, comfort grip, archival ink", "color, pack size", "Gel Ink Pens, for Journaling"),
    _t("office", "spiral notebook", "notebook", f"{OFFICE} › Office & School Supplies › Paper › Notebooks",
       "college ruled, thick paper, hardcover binding, perforated sheets, dotted grid, pocket divider", "color, pack size", "Journal Notebook, for School"),
    _t("office", "desk lamp", "lamp", f"{OFFICE} › Office Furniture & Lighting › Lamps",
       "dimmable led, eye caring, usb charging port, touch dimmer, flexible gooseneck, auto timer", "color", "Table Lamp, for Home Office"),
    _t("office", "office chair", "chair", f"{OFFICE} › Office Furniture & Lighting › Chairs & Sofas › Desk Chairs",
       "lumbar support, mesh back, swivel wheels, height adjustable, padded armrests, reclining backrest", "color", "Desk Chair, Computer Chair"),
    _t("office", "label maker", "label maker", f"{OFFICE} › Office Electronics › Label Makers",
       "bluetooth app, thermal printing, qwerty keyboard, multiple fonts, tape included, portable handheld", "color", "Label Printer, Labeling Machine"),
)  # fmt: skip

BRAND_SYLLABLES = ("lu", "mo", "ra", "vel", "ka", "ne", "zo", "tri", "sa", "don", "bri", "qua", "fen", "lo", "mar", "ti", "vo", "ze", "pol", "ar")
DESCRIPTION_OPENERS = (
    "Meet the {brand} {noun}:",
    "Designed for everyday use, this {noun} by {brand} is",
    "Our {noun} is",
    "This {brand} {noun} comes",
)
