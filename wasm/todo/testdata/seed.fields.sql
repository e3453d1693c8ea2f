INSERT INTO "field" VALUES('1','create','make pasta');
INSERT INTO "field" VALUES('1','set_completed',0);
INSERT INTO "field" VALUES('1','set_content','cook');
INSERT INTO "field" VALUES('2','create','clean');
INSERT INTO "field" VALUES('3','create','write');
INSERT INTO "field" VALUES('3','set_completed',1);
