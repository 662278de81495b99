"""Reference data the generator draws from, shaped like the classic Northwind sample."""

from typing import Final, NamedTuple


class Market(NamedTuple):
    country: str
    customer_weight: int
    cities: tuple[str, ...]
    regions: tuple[str | None, ...]
    # How the country is sometimes spelt in free-text entry; silver standardises these.
    variants: tuple[str, ...]


# Weights are the classic customer counts per country (91 customers in all).
MARKETS: Final[tuple[Market, ...]] = (
    Market("USA", 13, ("Seattle", "Portland", "Boise", "Albuquerque", "Anchorage", "San Francisco"),
           ("WA", "OR", "ID", "NM", "AK", "CA"), ("United States", "U.S.A.")),
    Market("France", 11, ("Paris", "Lyon", "Marseille", "Nantes", "Reims", "Strasbourg", "Lille"),
           (None,), ("france",)),
    Market("Germany", 11, ("Berlin", "München", "Frankfurt a.M.", "Köln", "Leipzig", "Stuttgart", "Aachen"),
           (None,), ("Deutschland",)),
    Market("Brazil", 9, ("Rio de Janeiro", "Sao Paulo", "Campinas", "Resende"), ("RJ", "SP"), ("Brasil",)),
    Market("UK", 7, ("London", "Cowes", "Manchester"), (None, "Isle of Wight"), ("United Kingdom", "U.K.")),
    Market("Spain", 5, ("Madrid", "Barcelona", "Sevilla"), (None,), ("España",)),
    Market("Mexico", 5, ("México D.F.",), (None,), ("México",)),
    Market("Venezuela", 4, ("Caracas", "San Cristóbal", "Barquisimeto"), ("DF", "Táchira", "Lara"), ()),
    Market("Argentina", 3, ("Buenos Aires",), (None,), ()),
    Market("Italy", 3, ("Torino", "Bergamo", "Reggio Emilia"), (None,), ("Italia",)),
    Market("Canada", 3, ("Montréal", "Tsawassen", "Vancouver"), ("Québec", "BC"), ()),
    Market("Sweden", 2, ("Luleå", "Bräcke"), (None,), ("Sverige",)),
    Market("Switzerland", 2, ("Bern", "Genève"), (None,), ()),
    Market("Portugal", 2, ("Lisboa",), (None,), ()),
    Market("Finland", 2, ("Helsinki", "Oulu"), (None,), ("Suomi",)),
    Market("Belgium", 2, ("Bruxelles", "Charleroi"), (None,), ()),
    Market("Austria", 2, ("Graz", "Salzburg"), (None,), ("Österreich",)),
    Market("Denmark", 2, ("København", "Århus"), (None,), ()),
    Market("Ireland", 1, ("Cork",), ("Co. Cork",), ()),
    Market("Norway", 1, ("Stavern",), (None,), ()),
    Market("Poland", 1, ("Warszawa",), (None,), ()),
)


class Category(NamedTuple):
    name: str
    description: str
    products: tuple[str, ...]
    base_price: float


CATEGORIES: Final[tuple[Category, ...]] = (
    Category("Beverages", "Soft drinks, coffees, teas, beers, and ales",
             ("Chai", "Chang", "Guaraná Fantástica", "Sasquatch Ale", "Steeleye Stout", "Côte de Blaye",
              "Chartreuse verte", "Ipoh Coffee", "Laughing Lumberjack Lager", "Outback Lager",
              "Rhönbräu Klosterbier", "Lakkalikööri"), 18.0),
    Category("Condiments", "Sweet and savory sauces, relishes, spreads, and seasonings",
             ("Aniseed Syrup", "Chef Anton's Cajun Seasoning", "Chef Anton's Gumbo Mix", "Grandma's Boysenberry Spread",
              "Northwoods Cranberry Sauce", "Genen Shouyu", "Gula Malacca", "Sirop d'érable",
              "Vegie-spread", "Louisiana Fiery Hot Pepper Sauce", "Louisiana Hot Spiced Okra", "Original Frankfurter"),
             23.0),
    Category("Confections", "Desserts, candies, and sweet breads",
             ("Pavlova", "Teatime Chocolate Biscuits", "Sir Rodney's Marmalade", "Sir Rodney's Scones",
              "NuNuCa Nuß-Nougat-Creme", "Gumbär Gummibärchen", "Schoggi Schokolade", "Zaanse koeken",
              "Chocolade", "Maxilaku", "Valkoinen suklaa", "Tarte au sucre", "Scottish Longbreads"), 25.0),
    Category("Dairy Products", "Cheeses",
             ("Queso Cabrales", "Queso Manchego La Pastora", "Gorgonzola Telino", "Mascarpone Fabioli",
              "Geitost", "Raclette Courdavault", "Camembert Pierrot", "Gudbrandsdalsost",
              "Flotemysost", "Mozzarella di Giovanni"), 28.0),
    Category("Grains/Cereals", "Breads, crackers, pasta, and cereal",
             ("Gustaf's Knäckebröd", "Tunnbröd", "Singaporean Hokkien Fried Mee", "Filo Mix",
              "Gnocchi di nonna Alice", "Ravioli Angelo", "Wimmers gute Semmelknödel"), 20.0),
    Category("Meat/Poultry", "Prepared meats",
             ("Mishi Kobe Niku", "Alice Mutton", "Thüringer Rostbratwurst", "Perth Pasties",
              "Tourtière", "Pâté chinois"), 54.0),
    Category("Produce", "Dried fruit and bean curd",
             ("Uncle Bob's Organic Dried Pears", "Tofu", "Rössle Sauerkraut", "Manjimup Dried Apples",
              "Longlife Tofu"), 32.0),
    Category("Seafood", "Seaweed and fish",
             ("Ikura", "Konbu", "Carnarvon Tigers", "Nord-Ost Matjeshering", "Inlagd Sill", "Gravad lax",
              "Boston Crab Meat", "Jack's New England Clam Chowder", "Rogede sild", "Spegesild",
              "Escargots de Bourgogne", "Röd Kaviar"), 22.0),
)

COMPANY_WORDS: Final[tuple[str, ...]] = (
    "Alfreds", "Around", "Berglunds", "Blauer", "Blondel", "Bólido", "Bon", "Bottom", "Cactus", "Centro",
    "Chop-suey", "Comércio", "Consolidated", "Drachenblut", "Du monde", "Eastern", "Ernst", "Familia",
    "Folies", "Frankenversand", "France", "Furia", "Galería", "Godos", "Gourmet", "Great Lakes", "Hanari",
    "Hungry", "Island", "Königlich", "La maison", "Lazy K", "Lehmanns", "Let's Stop", "Lonesome Pine",
    "Magazzini", "Maison", "Mère Paillarde", "Morgenstern", "North", "Océano", "Old World", "Ottilies",
    "Paris", "Pericles", "Piccolo", "Princesa", "Que Delícia", "Queen", "Rattlesnake", "Reggiani",
    "Ricardo", "Richter", "Romero", "Santé", "Save-a-lot", "Seven Seas", "Simons", "Spécialités",
    "Split Rail", "Suprêmes", "The Big Cheese", "Toms", "Tortuga", "Tradição", "Trail's Head", "Vaffeljernet",
    "Victuailles", "Vins et alcools", "Wartian", "Wellington", "White Clover", "Wilman", "Wolski",
)
COMPANY_SUFFIXES: Final[tuple[str, ...]] = (
    "Markets", "Delikatessen", "Imports", "Trading", "Foods", "Gourmet", "Supermarkt", "Comidas",
    "Épiceries", "Handel", "Store", "Importadora", "Restaurant", "Grocery", "Specialties",
)
FIRST_NAMES: Final[tuple[str, ...]] = (
    "Maria", "Ana", "Antonio", "Thomas", "Christina", "Hanna", "Frédérique", "Martín", "Laurence",
    "Elizabeth", "Victoria", "Patricio", "Francisco", "Yang", "Pedro", "Aria", "Diego", "Karin",
    "Philip", "Daniel", "Annette", "Yoshi", "Renate", "Jaime", "Carlos", "Felipe", "Fran", "Giovanni",
    "Catherine", "Alexander", "Simon", "Paula", "Manuel", "Pirkko", "Paolo", "Lino", "Helvetius",
)
LAST_NAMES: Final[tuple[str, ...]] = (
    "Anders", "Trujillo", "Moreno", "Hardy", "Berglund", "Moos", "Citeaux", "Sommer", "Lebihan",
    "Lincoln", "Ashworth", "Simpson", "Chang", "Afonso", "Cruz", "Roel", "Josephs", "Wilson",
    "Labrune", "Devon", "Latimer", "Messner", "Domingues", "Pontes", "Rovelli", "Koskitalo",
    "Accorti", "Rodriguez", "Nagy", "Feuer", "Crowther", "Karttunen", "Pereira", "Saveley",
)
CONTACT_TITLES: Final[tuple[str, ...]] = (
    "Sales Representative", "Owner", "Order Administrator", "Marketing Manager", "Accounting Manager",
    "Sales Manager", "Sales Agent", "Sales Associate", "Marketing Assistant", "Assistant Sales Agent",
)
STREETS: Final[tuple[str, ...]] = (
    "Obere Str.", "Avda. de la Constitución", "Mataderos", "Hanover Sq.", "Berguvsvägen", "Forsterstr.",
    "place Kléber", "C/ Araquil", "rue des Bouchers", "Fauntleroy Circus", "Cerrito", "Sierras de Granada",
    "Walserweg", "Av. dos Lusíadas", "Berkeley Gardens", "Rua Orós", "Maubelstr.", "Kirchgasse",
    "Grenzacherweg", "Torikatu", "Via Monte Bianco", "Åkergatan", "Smagsloget", "Vinbæltet",
)

EMPLOYEES: Final[tuple[tuple[str, str, str, str], ...]] = (
    # (last_name, first_name, title, title_of_courtesy); reports_to follows the classic hierarchy.
    ("Davolio", "Nancy", "Sales Representative", "Ms."),
    ("Fuller", "Andrew", "Vice President, Sales", "Dr."),
    ("Leverling", "Janet", "Sales Representative", "Ms."),
    ("Peacock", "Margaret", "Sales Representative", "Mrs."),
    ("Buchanan", "Steven", "Sales Manager", "Mr."),
    ("Suyama", "Michael", "Sales Representative", "Mr."),
    ("King", "Robert", "Sales Representative", "Mr."),
    ("Callahan", "Laura", "Inside Sales Coordinator", "Ms."),
    ("Dodsworth", "Anne", "Sales Representative", "Ms."),
)
EMPLOYEE_MANAGERS: Final[tuple[int | None, ...]] = (2, None, 2, 2, 2, 5, 5, 2, 5)
EMPLOYEE_ORDER_WEIGHTS: Final[tuple[int, ...]] = (123, 96, 127, 156, 42, 67, 72, 104, 43)

QUANTITY_UNITS: Final[tuple[str, ...]] = (
    "10 boxes x 20 bags", "24 - 12 oz bottles", "12 - 550 ml bottles", "48 - 6 oz jars", "36 boxes",
    "12 - 8 oz jars", "20 - 1 kg tins", "40 - 100 g pkgs.", "24 - 250 g pkgs.", "10 - 500 g pkgs.",
    "1 kg pkg.", "32 - 500 g boxes", "12 - 12 oz jars", "5 kg pkg.", "24 pieces",
)
DISCOUNTS: Final[tuple[float, ...]] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
DISCOUNT_WEIGHTS: Final[tuple[float, ...]] = (0.61, 0.086, 0.08, 0.073, 0.075, 0.071)

CLASSIC_ORDERS: Final = 830
CLASSIC_ORDER_LINES: Final = 2155
CLASSIC_CUSTOMERS: Final = 91
FIRST_ORDER_ID: Final = 10248
