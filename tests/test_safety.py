"""The triage (core/safety.py): a warning sign now is an emergency; mentioned, a safety
line; past, negated, someone else's or general, neither. The broad measurement is the
held-out safety set (scripts/evaluate_understanding.py); these pin the rules' intent."""

from __future__ import annotations

import time

import pytest

from core.safety import MAX_SCREENED_CHARS, Reading, Verdict, assess

EMERGENCIES = [
    "my son has a fever",
    "fever 39.5",
    "fever",
    "temp 38.6 tonight",
    "the thermometer reads 101.9",
    "he's at 102",
    "38.4 and climbing, day 3 after kymriah",
    "is it normal that my son has a fever",
    "she is confused and slurring her words",
    "he's having a seizure",
    "she had a fit and her eyes are rolling back",
    "he's twitching and jerking",
    "she is seeing things that aren't there",
    "he doesn't recognise me",
    "my daughter can't breathe properly",
    "his heart is racing",
    "she's so floppy and weak",
    "he had a fever last night and now he is very sleepy",
    "should we go to the ER? she's at 101",
    "how high is too high? he's 38.4 now",
    "can i give tylenol, fever is 102",
    "my kid is really sleepy and wont wake up",
    "i feel dizzy",
    "im 20 and my temp is 38.5",
    "My son\u2019s lips are turning blue",
    "HE IS HAVING A SEIZURE",
    "my son isnt responding",
    "is it bad that her lips look blue?",
    "his pulse is 165 and he is just resting",
    "she keeps asking what day it is",
    "he can't write his name, just squiggles",
    "is it just being tired if he can barely stay awake tonight?",
    "is 38.2 normal a week after the cells? that's what he has now",
    "she's fitting",
    # The treatment's date is not the sign's: still now.
    "i'm 21, had car t 6 days ago and i'm at 38.5",
    "she got her cells on monday and she is at 101.5",
    # "went to" is not "going to"; a negation ends where a new subject begins.
    "tonight she went to brush her teeth and came back wobbling",
    "his hands won't cooperate and he's shaky",
    "my 4 year old is 38.7",
    "the worst headache i've ever had, im 24",
    # Disorientation, lay fever and chills, words going wrong, the friend as an object.
    "he woke up confused about where we are",
    "she's like a hot water bottle and wants more blankets",
    "im texting the wrong words and my brain is slow tonight",
    "he was playing with his cousin and now he can't write his name",
    "Urgent: seizure after infusion",
    "tiene el corazón súper acelerado",
    # A pulse of 140+, a negated "stop", a doubt about knowing where she is, new bruises.
    "my watch says my heart rate is 146 and i'm just sitting",
    "his arm keeps jerking and he can't make it stop",
    "i don't think she knows who i am right now",
    "new bruises on his back that weren't there this morning",
    "any idea why he'd be picking at the air? he keeps doing it",
    "she was doing great all week but tonight she is at 38.9",
    "my son was 37.9, i checked again and it's 38.5 now",
    # Readings typed in words, a bare number, a spaced dash; a sign after "it stopped but";
    # a treated brother as "he".
    "thermometer says a hundred and two point four",
    "thirty-nine point one under her arm",
    "102 !!",
    "checked twice - 101.3",
    "the seizure stopped but he's not waking up properly",
    "my sister is the one who had car t, she's 20, and she's confused right now",
    # A typo of a sign's word; a reading in another clause than "like normal"; signs alone
    # asked in alarm; "what does it mean when she..."; the patient telling the parent.
    "hes really confsued and sleepy",
    "its 101.1 but she's acting like normal, do we call?",
    "coughing blood??",
    "what does it mean when he's this sleepy and won't wake up?",
    "she just told me her vision is blurry",
    # Fourth-study wordings (2026-11-29, fourth session), in my own words:
    "dark purple blotches showing up on his legs",
    "he dozed off after lunch and i cant properly wake him",
    "she is having a tough time getting her words out tonight",
    "got the runs, nonstop since this morning",
    "why would her heart be pounding like that when she is resting??",
    "his nose is bleeding and it will not stop, is that something to worry about?",
    # Fifth-study wordings (the ninth set, 2026-11-29), in my own words:
    "39 on the dot",
    "new bruises just showed up all over her back, should i worry?",
    "she seems all muddled, keeps asking what day it is",
    "her words are all mixed up, she says fork for spoon",
    "she dosent recognise her own brother",
    "my right leg feels weak and heavy, im 21 and had kymriah last week",
    "my son's hands are twitching and he cannot make them stop",
    # A dropped final g ("havin", "bleedin"): read as the -ing word.
    "she is havin a fit rn",
    "hes bleedin from his nose and it wont stop",
    # A review of the fifth study: rules that had made these signs look over or
    # someone else's ("go now", "so", "his mom - he", "can't wake him").
    "he's having a seizure right now, do we go now?",
    "she can't breathe, we go now?",
    "the seizure is still going now",
    "his oxygen level is up and down and his lips are blue",
    "her lips went blue and they have stopped moving",
    "is 39.5 the cutoff? thats what he has now",
    "he won't drink and is so sleepy",
    "he didn't sleep and is so dizzy now",
    "he is not eating and seems so confused",
    "it's his mom - he has a fever of 39.8",
    "I am her dad — she is having a seizure",
    "Texting for her mom - she is not breathing right",
    "her brother has a fever, but now it's a seizure",
    "His sister had a fever yesterday, but right now there's blood in the pee",
    "I'm his mum and I can't wake him",
    "I'm her mother, I can't wake her",
    "I'm the mom and I can't wake her",
    "mi hermana está cuidando a mi hijo y él tiene convulsiones ahora",
    "My husband is gone for the week and she has a fever of 39",
    # The years belong to the grandpa, in a clause after the sign.
    (
        "is that normal? she can't tell what day it is and keeps asking for her grandpa"
        " who passed years ago"
    ),
    # Another thing stopped, not the sign.
    "his leg started jerking and then he stopped talking to me",
    "her arm is twitching and she stopped looking at me",
    # A broken thermometer is not a fever that broke.
    "she is burning up and shivering and the thermometer broke",
    "es normal? mi hija no me responde bien desde hace un rato",
    # The earlier sentence ended the twitching, not what goes on now.
    (
        "her hand was shaking for a bit. that stopped. she is still very drowsy and it's"
        " been 20 minutes"
    ),
    # A relative's child in the writer's care, treated ("she had the cells").
    "My nephew is burning up. I'm minding him for my brother, he got his CAR T cells on monday.",
    "she has diarea again and again today",
    "he keeps running to the bathroom nonstop, all water",
    "the home nurse checked her blood pressure and says it is really low",
    "she's puffing like she just ran up the stairs and she's lying in bed",
    "blood keeps coming out of his gums and won't stop",
    "she's been on the toilet all day and it's pure water",
    "his handwriting has gone to pieces today, letters all over the place",
    "she keeps saying words wrong, like cup for shoe, and gets upset",
    "who should we call, my daughter is struggling to breathe?",
    "it's like word salad when he talks, he shuffled all his words",
    "when she stands she goes white as a sheet and grabs the wall, the floor is spinning she says",
    "he's been hugging the toilet since noon, every sip comes right back up",
    "his colour looks grey and off",
    "i'm 19 and my handwriting is a mess, like i forgot how to write letters",
    "101.8 under the arm, she had her cells on friday",
    "is wobbliness a side effect? she keeps falling over when she stands, started this morning",
    "we got home tuesday. since then he's been throwing up and can hardly lift his head",
    "no consigo despertar bien a mi hijo, se vuelve a dormir enseguida",
    "I'm his grandma and I'm minding him this week, the thermometer says 101.2",
    "im the one who had car t (20) and my hands keep twitching",
    "he's been sick as a dog since lunch, can't keep a sip of water down",
    # The sentence after the question says it goes on.
    "¿es normal que tenga 38.5? está así desde hace un rato",
    # Sixth session: the fifteenth set's misses, in other words.
    "day 9 after the cells and her knees and hips ache horribly, she cries if I move her",
    "we can hardly rouse him this morning, he just groans",
    "I'm 21, a week out from car t, and my handwriting got sloppy overnight",
    "se anda cayendo por la casa, sin equilibrio",
    "le duelen muchísimo las piernas, grita del dolor",
    # A question about the child's medicine is not a question about a risk.
    "can she have motrin for her fever after car t",
    # Sixth session: the sixteenth set's misses, in other words.
    "mom here at the office, the babysitter just texted 39.4",
    "3 9 . 2 cant type much",
    "is this crs if he has 38.9 and the shakes?",
    "his chest sounds gurgly and rattly when he breathes",
    "I'm 20, my girlfriend says I keep repeating myself and I can't remember saying it",
    "he's chatting to his grandpa who died last year like he's in the room",
    "she got up from the couch and crumpled to the floor",
    # Someone tells us of our own child.
    "my husband says she is confused and doesn't know where she is",
    # Sixth session: the seventeenth set's misses, in other words.
    "his ICE score tonight is maybe 7, he couldn't name a pencil",
    "the oximeter says 89 on her finger, is that bad?",
    "is 38.4 considered a fever after car t? that's what she's at",
    "it's 2am, my daughter is 38.9 and shivering and I don't know why I'm typing, not calling",
    "he looks at me but nobody's home",
    "her words keep coming out jumbled",
    "she's chatting to her grandma, who passed away last spring, like she's right here",
    "he got up and his legs gave out",
    "she's slow to answer and keeps drifting off",
]

MENTIONS = [
    "what if he gets a fever after we go home?",
    "who do we call if she has a seizure at night?",
    "will my daughter get a fever after the infusion?",
    "what do i do if my child has a fever after car t",
]

NOT_EMERGENCIES = [
    "he had a seizure as a baby, can he still get car t?",
    "last year during chemo she had high fevers, is crs like that?",
    "my nephew has a fever, is it safe for my son to see him?",
    "no fever so far, when can we go home?",
    "she's been fever free for a week",
    "what are the signs of CRS?",
    "how common are seizures with kymriah",
    "Neurotoxicity Symptoms After CAR T",
    "what are the side effects",
    "I'm confused about the insurance part",
    "my 7 year old has relapsed twice",
    "call 617-632-3352",
    "she is 38 years old",
    "my son had a nosebleed, it stopped quickly",
    "his fever broke on tuesday and he has been normal since",
    "my older son has chills, he is not the one who had car t",
    "a girl in my daughter's class has a fever",
    "i'm here to visit my son and i have a fever myself",
    "when my son got blinatumomab he had tremors, is kymriah similar?",
    "do kids get chills with crs?",
    # Everyday words that are not signs: the leukemia not responding, "fit together".
    "is my daughter eligible? shes 4 and her leukemia didnt respond to induction",
    "how do car t and a transplant fit together?",
    "my nephew, who i'm raising, might be a candidate",
    "can car t mess with my brain? confusion is what scares me most",
    "i'm worried about the seizure risk listed for car t",
    "that sounds strange to me",
    "she had a seizure years ago during chemo, totally fine since. does that raise her risk?",
    "my temp hit 39 after my cells but that was 3 weeks ago, can i work again",
    "the roommate has a sick child with a fever, should we worry?",
    "i have chills myself, should i stay away from my son after his infusion?",
    "seizures after car t: what parents should know",
    "mi hija tuvo fiebre pero ya está bien",
    # Over, with a "now" that belongs to another clause; a question about onset; a list
    # of signs named by a form; chemo's past; a sibling of the treated child.
    "his shaking cleared up two days ago and he's back at school now, any long term effects?",
    "is a crs fever sudden or does it start slowly?",
    "the leaflet lists confusion, tremor and trouble speaking, how are they treated?",
    "chemo left him so sick with vomiting, will car t be the same?",
    "my toddler has a fever, can she hug her brother who had car t last month?",
    "fever is usually the first sign of crs, right?",
    # One negation over a list; "doing well" after the sign; a sentence-wide "hypothetically";
    # a reading under the line asked about; Spanish "ya se recuperó".
    "no fever, chills or rash so far, is that normal?",
    "fever on day 2, treated, home now and doing well. can it come back?",
    "hypothetically, how long can a fever last before we call?",
    "she's 37.5, does that count as a fever?",
    "tuvo fiebre hace dos semanas pero ya se recuperó, ¿puede volver?",
    # Words that look like signs but are the parent's: an answer they could not give, their
    # own confusion about names, being shaken by news, the leukemia getting worse.
    "my daughter asked what cd19 is and i couldn't answer her",
    "my son starts car t soon and honestly i'm confused by all the drug names",
    "we were really shaken after the consent meeting, what are the risks?",
    "will his leukemia get worse while the cells are being made?",
    "besides fever, what should we watch for?",
    "will i feel sick and throw up a lot?",
    "one fever the night of the infusion and nothing since, was that crs?",
    "i'm the grandpa and my own heart is racing from the stress, who can i talk to?",
    "this is all so confusing, who do i ask about insurance?",
    "he fainted once before he was diagnosed, long before car t, does it matter?",
    "fever on day 4, now it's day 30 and all good, when is the next visit?",
    "she had a fever last week but its gone now, when can she go back to school",
    "",
    "   ",
    "he had chills after his infusion back in may, long gone now. when can he swim?",
    "her bruising was bad before treatment, now her counts are up. do we still need labs?",
    "a nosebleed last week stopped on its own, is that worth mentioning at clinic?",
    "My wife is so dizzy from the night shifts, how long is the stay?",
    "what does b cell aplasia mean for school?",
    "can kymriah give you seizures?",
    "a dad in the parents group said his son had confusion after car t, it really shook me",
    "The baby has a fever, 38.4. Our older daughter is the CAR T patient, can she visit?",
    "he ran 39 on day 4 but that was in the hospital and it settled. what is the next scan?",
    "he never had seizures, why does he need seizure medicine?",
    "she had a fit on day 5 but she has been fine for weeks, will it come back?",
    "he was 38.6 on friday but it settled and has been normal since",
    "her shaking hands the first week, theyve stopped now. is that usual?",
    "say her temp reaches 38 tonight, which number do we call?",
    "should she get a headache at home, is that the neuro side effect?",
    "is 38 the cut-off where we phone you?",
    "is 100.4 f the same as 38 c?",
    "i'm the mum and i have chills from no sleep, can i still stay on the ward?",
    "I'm the patient's dad and my heart races from stress, is there support?",
    "this is about my boyfriend - he has a temperature of 38.5, can he still be my carer?",
    "my mate said he got confused after car t, will that happen to me?",
    "my wife and I read about car t online and we're both confused, what is it?",
    "he threw up with every round of chemo, is vomiting common after car t?",
    "Mi hermana tiene fiebre, ¿puede visitar a mi hija?",
    "my grandpa has dementia and his words are all jumbled",
    "My husband is so dizzy from lack of sleep lol. anyway how long is the hospital stay usually",
    "this is about my girlfriend - she has a fever of 38.3, can she be my carer?",
    "The baby has a fever, 38.4. Our older daughter is the CAR T patient, can she visit?",
    "he had tremors in his hands the first week, theyve stopped now. will they come back?",
    (
        "the dizziness he had in the first week is totally gone now. is it ok for him to "
        "ride his bike?"
    ),
    (
        "I'm 22. After my infusion in August I had a fever for 3 days, long gone now. Can"
        " I go back to the gym?"
    ),
    "she spiked 39.2 on day 3 but she's been fine for 6 days now, can we leave?",
    "the fever went down on tuesday and it hasn't come back since. is the crs done?",
    "his chills stopped on friday, when can we go home?",
    "we had a rough night with 40 and shaking, but she's been stable since. when can we fly?",
    "What might a seizure look like in a 6 year old?",
    "I saw confusion and trouble talking listed in the booklet. What is ICANS?",
    "all these numbers on the monitor confuse me, what is a normal heart rate?",
    (
        "My younger daughter, she's 8, has a cold and a temp of 38.2. Can she hug her"
        " brother after his infusion?"
    ),
    "hace un mes tuvo temblores, ya se le pasaron. pueden volver?",
    "estuvo en el hospital por dificultad para respirar pero ya salio y esta bien. que sigue?",
    "39 grados ya cuenta como fiebre?",
    "My nephew has a fever. Can he visit my son who had CAR T last month?",
    "my friend's little boy had a febrile seizure, is that the same as the seizures from car t?",
    "autocorrect keeps changing infusion to confusion, sorry. when is infusion day?",
    "How would the doctors treat seizures or confusion if they happen?",
    "the nurse told us lots of kids get fevers after the cells. does that mean it works?",
    "Dad here. I'm feeling really dizzy myself from no sleep. Can someone take over?",
    "Our younger son, who is not the patient, has a fever of 39. Can he be home with her?",
    "My brother, who drives us to clinic, has a bad cough and a fever. When can he drive again?",
    "I'm the patient's mom and I've got a tummy bug, throwing up since lunch. Should I stay away?",
    "Her half brother has been throwing up all day. Can they ride in the car together?",
    "could a seizure come on suddenly after car t or does it build up?",
    "do teenagers get more confusion after car t than younger kids?",
    "he has a seizure history, just one during crs back in march. does he need a neurologist?",
    "two years ago during chemo she had nosebleeds. is bleeding something you check for?",
    "my son had a fit in hospital back in june, nothing at all since then. can he swim?",
    "his crs fever was in the first week and he's 4 months out now. do they still test for it?",
    "A dad in our group said his girl didn't know him for a day. How is that handled?",
    "I looked both words up and got even more confused. What do they mean?",
    "whats the difference between chills and rigors?",
    "can kids get tremors from car t? how long do they last?",
    "I'm 22 and the patient is my little brother. I have chills and 38.4, can I visit?",
    "cuando pasa la confusion, cuanto tiempo suele durar?",
    "I scribbled the word tisagenlecleucel on my hand, what is it?",
    "tonight's check: fever no, chills no, confusion no. do we keep doing this all month?",
    "She couldn't write her name for two days after the cells, but that was in the spring.",
    "he was wobbly in hospital after the cells, but that was a month ago and he's climbing now",
    "the confusion she had right after the infusion cleared up within days. is it working?",
    "What is ICANS? The nurse mentioned it along with tremors.",
    "another dad told me his girl couldn't talk for a day after car t, is that common?",
    "My twin has a fever, I'm the one who had Kymriah. Separate rooms?",
    "que es la neurotoxicidad? a veces tiemblan las manos, dijeron",
    "Is CAR T like a transplant? The leaflet was confusing.",
    "are there donor-cell trials, since his own t cells are so weak?",
    # Sixth session: the fifteenth set's false alarms, in other words.
    "She spiked a fever on day three and got steroids for it. That was back in March. "
    "How do steroids work?",
    "Say she started wobbling when walking a year from now, would it be the cells?",
    "I saw in a facebook group that a teenager had a seizure after his infusion. Is that rare?",
    "37.6 this morning, is that a real fever?",
    # ... and the fifteenth set's topic questions the triage took for emergencies.
    "can my kid get confusion from kymriah?",
    "What are the options once the leukemia stops responding to car t?",
    # ... and the sixteenth set's false alarms, in other words.
    "A mom on facebook wrote that he had a seizure the week after car t. How common is that?",
    "The girl in the bed across from us had shaking chills all night. Will my son get them?",
    "my neighbour's daughter had kymriah and her dad said she was confused for days",
    "My daughter's classmate has the flu with a 102 fever. Can she still go to school?",
    "The tremor she had in the ICU is totally gone now. Will it come back?",
    "Back in May her heart raced and she needed fluids, but she's been fine since discharge.",
    "He had 38.6 right after the infusion and was home with no fever since Friday. "
    "When is the next visit?",
    "a dad in our group said his son stopped knowing him for a day after car t. why?",
    # ... and the seventeenth set's false alarms, in other words.
    "She had one seizure on day 5, a month ago, and hasn't had another. When can she swim?",
    "The 100.9 on Sunday was an ear infection, she's been fever-free since Monday.",
    "I'm the patient's older sister and caregiver, and I have chills today. Can I still visit?",
    "I'm 19, my temp is 99.5, is that a mild fever I should report?",
    "El hijo de mi compadre tuvo convulsiones después de las CAR-T. ¿Es común?",
    # The third and fourth reviews' false alarms of the day's new words.
    "Is it normal that he's slow to answer texts? He's a teenager lol",
    "I called the clinic but it feels like nobody's home, no one picks up",
    "She likes talking to her grandma who died, like at her picture, it comforts her.",
    "My knee hurts terribly from sleeping on the hospital cot, I'm the dad",
    "My writing is awful, sorry for the typos",
    "Mi hijo se está cayendo de sueño a las 9, es normal después del tratamiento?",
    "Le duelen mucho los piquetes de las agujas, hay crema para eso?",
    # Asked of the reading itself.
    "is 37.9 a fever",
    "is 99.5 f a fever or not?",
    "The clinic is so slow to answer the phone, is there another number?",
    "The doctor's handwriting is awful, can someone read me the dose on the sheet?",
    "Honestly my whole world went dark when they said relapse. What are the next options?",
    "We sat for 80 minutes waiting for the pharmacy, is there a faster way to get refills?",
    "Nobody is home during the day, can a home nurse visit instead?",
    "Back in March she hit 39.4, that's what she was at when they gave tocilizumab. "
    "Do they always give it?",
    "would 38.1 count as a fever?",
    "38 sharp is the line, right? hers is 37.6",
]

SPANISH_EMERGENCIES = [
    "mi hijo tiene fiebre de 39",
    "mi hija está convulsionando",
    "no puede respirar",
    "esta muy confundido y no me reconoce",
    # A home cuff's reading with the top number under 90 (seventh session).
    "el aparato de la casa marca la presión en 78/42",
]


# A newcomer's review of the fifth session's rules: messages each new rule first got wrong
# (a date of the treatment read as the sign's, another thing stopping, "at first", a
# clause without its subject, "mom here" inside a patient's own message, ...).
REVIEWED_EMERGENCIES = [
    # A home cuff's reading with the top number under 90 (seventh session).
    "the cuff just read 79/44 and he looks pale",
    "My daughter's blood pressure is 84/50 right now",
    "just checked his bp: 86/51",
    # The fourth review.
    "She's 38.9 and shivering, first time - she'd had no fever since Tuesday",
    "Fever 39.1 tonight. He'd been fever-free since the infusion",
    "He's got chills and feels hot, no fever since yesterday though, thermometer's broken",
    "He has chills right now. No fever since Monday until this",
    # The sixth session's third review: more misses of the day's rules (the pronoun rule
    # was then removed: a stranger named before a present sign is too often the helper).
    "A man at the store helped me get him to the car, he went grey and collapsed. Is "
    "that common after car t?",
    "We were visiting a friend and he started shaking all over and went stiff. Does "
    "that happen with car t?",
    "A lady at church was holding her and she went limp and her lips went blue. Is "
    "this typical after the cells??",
    "My son had a seizure 10 minutes ago, no fever since yesterday though, what do we do?",
    "She's really hard to wake this morning, fever-free since Monday though",
    "She's 39.8 and I don't have any more tylenol, what do I do?",
    "She was on day 14 when they sent us home and she has a fever of 39.2",
    "He's confused and slurring, his hospital stay is over now, we're home. What do we do?",
    "Soy la niñera, el hijo de la señora tiene fiebre de 39.5 y está temblando",
    "I've checked 3 times and it would read 39.4 every time",
    "He got a fever of 39.6 and the shakes. That was 2 months ago in the hospital "
    "and now it's back",
    "His grandma is with him, he is seizing, what does it mean?",
    # The sixth session's second review: the fixed rules' remaining misses.
    "My daughter's teacher called, she has a fever of 39.5 and is very sleepy, is that normal?",
    "A nurse friend told me to ask here, she's 39.7 and shaking, is that normal?",
    "Somebody from his school called, he fainted and is hard to wake, can you tell me what to do?",
    "A friend is driving us to the ER, he can't breathe, is that common with CAR T?",
    "My son's friend says he passed out at the park and he's still really drowsy, is that normal?",
    "A neighbour is with us, he is having a seizure right now, what does that mean?",
    "The man at the front desk told me to message here, his fever is 103, is that normal?",
    "A kid in her class has strep and she has a fever of 39.8 now, could it be related?",
    "A girl in the waiting room sneezed on her and now she has 39.1, could it be related?",
    "Our babysitter is a student, she says he's burning up and really drowsy, is that normal?",
    "No fever since Friday, she just spiked to 38.9",
    "Fever-free since Tuesday, she's burning up, 39.9",
    "He spiked 40.1. That was before his tylenol, should we come in?",
    "She had a seizure and is still not responding. That was during dinner.",
    "He had a fever of 39.6. That was at the clinic, they sent us home, what do we do?",
    "Can he have a seizure from kymriah? he's doing it right now",
    "Can she have trouble breathing from this treatment? it's happening now",
    "Temp 38.6 counts as a fever right? should we go in",
    "Mi comadre dice que el niño tiene fiebre de 39.5 y está temblando",
    "Her temp has been higher than 38.5 all evening",
    # The sixth session's review: happening-now messages the new pronoun, dating, "but"
    # and negation rules first got wrong.
    "I'm the patient's mom, she is having a seizure",
    "This is the dad, he is having a seizure",
    "I'm the mom, she's burning up at 103",
    "I'm a single mom and she's having trouble breathing",
    "My brother is the patient, he is having a seizure right now",
    "My best friend is the patient, she is seizing and not responding",
    "The teacher called, she has a fever of 101.5",
    "Somebody from his school called, he fainted and is hard to wake",
    "A friend is driving us to the ER, he can't breathe",
    "A nurse friend told me to ask here, she's 39.7 and shaking",
    "Her big sister says she can't breathe and her lips are blue",
    "My son's friend says he passed out at the park and he's still really drowsy",
    "The man at the front desk told me to message here, his fever is 103",
    "Someone on the phone told me to message here, she is not breathing right",
    "A lady in the waiting room is helping me, she is seizing and not responding",
    "My girlfriend had CAR T two weeks ago and she is really confused now",
    "My friend is 20 and got kymriah, he can't breathe properly",
    "My son went to a sleepover and the other boy's dad called, he has a fever of 39.5",
    "A boy in his class has flu, and now he has a fever of 102",
    "A boy in his class has the flu and now he has a fever of 102, what should we do?",
    "He spiked a fever of 39.4. It was on day 3 last time too.",
    "He started seizing and isn't responding. It was like when he had CRS in January.",
    "She's in bed with a temp of 102. It was like this when she had CRS.",
    "His fever jumped to 103.5. That was in the hospital last time, what do we do?",
    "She just had a seizure. It was when we were getting into the car.",
    "She had a fever of 102 on Monday, but it came back tonight",
    "He was confused yesterday but it got worse tonight",
    "Temp 38.4 on Sunday but it went up again this evening",
    "No come desde ayer y está muy confundida",
    "Shaking and confused from the CAR T",
    "Her temp was 37.8 this morning but now she feels much hotter and is flushed, is that a fever?",
    # ... and some the rules got wrong before it.
    "Nosebleed won't stop, been 20 minutes, it stopped for a second then started again",
    "He has a fever of 39.6 that never goes away with tylenol",
    "He is confused and his headache went away",
    "He's 39.8 and his appetite has gone away",
    "She's seizing like she did back in January",
    "He's coughing up something that looks like blood",
    "He doesn't know his grandma, she's sitting right next to him",
    "Mi hijo recibio kymriah hace 3 meses y tiene convulsiones",
    "Le pusieron CAR T hace 2 semanas y tiene fiebre de 39.5",
    "Mi hija tiene 16 anos, le hicieron car t hace 4 semanas y esta muy confundida",
    "Mi hijo tiene fiebre de 39.6, le dieron el alta hace 3 semanas",
    "Tiene 39.8 y tiembla, no se si es como cuando tuvo CRS",
    "Esta confundido como cuando estuvo en el hospital",
    "Tiene 39.5 y esta convulsionando, ¿ya cuenta como emergencia?",
    "Tiene 39.4 de fiebre y temblores, pero ya salio del hospital, que hago?",
    "Tiene fiebre de 39.8, ya se le pasaron los escalofrios",
    "He's breathing fast and his lips are blue, how do they treat this",
    "my daughter is seizing how do you stop it",
    "How do you stop a seizure? he's having one",
    "My son is 5 and has a fever of 39.5, how do you treat that at home?",
    "He has a fever of 39.8 and the vomiting stopped",
    "He's got 39.4, the chills stopped though",
    "Fever of 39.5 since his antibiotics ended",
    "He has a fever of 39.6 since we stopped the antibiotics",
    "Her nose is bleeding, I stopped it for a minute but it keeps going",
    "My son has a fever of 39.5, the tylenol settled him a bit",
    "At first he was just tired, then he started having a seizure",
    "At first he seemed sleepy but then he started twitching and won't respond",
    "He was fine at the start of the night, then he spiked 40.1",
    "He's been stable since discharge and has 39.5 tonight",
    "His sats have been stable for an hour, he is breathing really fast",
    "He was fine for a few days now he has a fever of 39.6",
    "She was okay for 2 days now she is confused",
    "my son have fever 39 now is okay?",
    "I'm the patient, I'm 19, mom here with me, I can't breathe properly",
    "My mom here says I should ask, I have a fever of 39.6 and chills",
    "My husband is driving us to the ER, just had another seizure",
    "Our neighbour is driving us in, keeps having seizures",
    "She is throwing up something that looks like blood",
    "Is 39.5 high in a 2 year old? that's what she has",
    "Lots of kids on the ward have colds, my son has a fever of 39.5 and is shivering",
    "He has trouble speaking like in the booklet",
    "He woke up, looked up and got confused",
    "kymriah seizure",
    "He just had a seizure that stopped after 2 minutes",
]
REVIEWED_NOT_EMERGENCIES = [
    # A cuff's reading: a low one in the past, a normal one now (seventh session).
    "Her blood pressure was 76/40 on day 5 in the hospital, that was two months ago",
    "his bp is 112/70 tonight, is that ok",
    "honestly the pressure of all this is a 50/50 thing for me",
    "la presion del trabajo es 50/50",
    "La medicina diaria de mi hijo, cuando se la doy?",
    "He had a seizure last year and since then nothing, can he swim?",
    "He had a fever last month, he is still on antibiotics, is that normal?",
    "He had a seizure, which was back in January, can he play football?",
]


@pytest.mark.parametrize("text", EMERGENCIES + REVIEWED_EMERGENCIES)
def test_a_warning_sign_now_is_an_emergency(text: str) -> None:
    assert assess(text).verdict is Verdict.EMERGENCY


@pytest.mark.parametrize("text", MENTIONS)
def test_a_sign_not_placed_in_time_gets_the_safety_line(text: str) -> None:
    result = assess(text)
    assert result.verdict is Verdict.MENTION
    assert Reading.HYPOTHETICAL.value in result.readings


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_past_negated_other_and_general_are_not_emergencies(text: str) -> None:
    assert assess(text).verdict is not Verdict.EMERGENCY


@pytest.mark.parametrize("text", SPANISH_EMERGENCIES)
def test_spanish_emergencies_are_recognised_as_spanish(text: str) -> None:
    result = assess(text)
    assert result.verdict is Verdict.EMERGENCY
    assert result.language == "es"


def test_a_sign_days_ago_with_nothing_saying_it_goes_on_gets_the_safety_line() -> None:
    result = assess("he threw up two days ago")
    assert result.verdict is Verdict.MENTION
    assert result.readings == (Reading.UNCLEAR.value,)


@pytest.mark.parametrize(
    "text",
    [
        "Confusion And Seizures After Kymriah",
        "fever or chills after car t",
        "Fever, Confusion And Speech Problems After CAR T",
        "car t seizures",
        "kymriah confusion and trouble speaking",
    ],
)
def test_a_title_naming_the_therapys_signs_gets_the_safety_line(text: str) -> None:
    # Nobody's sign and no time in it: not clearly now, not clearly general.
    result = assess(text)
    assert result.verdict is Verdict.MENTION
    assert result.readings == (Reading.UNCLEAR.value,)


def test_a_reading_under_the_line_with_the_cutoff_asked_gets_the_safety_line() -> None:
    # "the cutoff is 38" names the line, not a second reading.
    assert assess("37.8 in the ear, the cutoff is 38 right?").verdict is Verdict.MENTION
    assert assess("38.6 in the ear, the cutoff is 38 right?").verdict is Verdict.EMERGENCY


def test_temperatures_are_read_against_the_fever_line() -> None:
    assert assess("temp 100.4").signs == ("fever",)
    assert assess("temp 37.8").verdict is Verdict.MENTION
    assert assess("temp 98.6 this morning, all good").verdict is Verdict.NONE
    assert assess("39 c").verdict is Verdict.EMERGENCY
    assert assess("she is 102 pounds").verdict is Verdict.NONE


def test_the_signs_found_are_named() -> None:
    assert set(assess("she has a fever and chills and is confused").signs) >= {
        "fever",
        "chills",
        "confusion",
    }


def _median_seconds(text: str) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        assess(text)
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


def test_a_huge_crafted_message_costs_what_its_capped_start_costs() -> None:
    """Issue #15.1: the old check was quadratic; a 1 MB message stalled the server. A ratio
    against the capped start, not a wall-clock limit, so a busy machine cannot flake it
    (absolute figures: `make bench`)."""
    for text in ("fever " * 200_000, "my son " * 150_000, "no " * 350_000, "a" * 1_000_000):
        capped = text[:MAX_SCREENED_CHARS]
        assert _median_seconds(text) < 3 * _median_seconds(capped) + 0.05, text[:10]


def test_only_the_start_of_an_over_long_message_is_screened() -> None:
    assert assess("x " * MAX_SCREENED_CHARS + "my son has a fever").verdict is Verdict.NONE
    assert assess("my son has a fever " + "x " * MAX_SCREENED_CHARS).verdict is Verdict.EMERGENCY


def test_odd_input_is_no_emergency_and_no_crash() -> None:
    assert assess("\x00\x01<script>alert(1)</script>").verdict is Verdict.NONE
    assert assess("🙂🙂🙂").verdict is Verdict.NONE


@pytest.mark.parametrize("text", REVIEWED_NOT_EMERGENCIES)
def test_reviewed_history_questions_get_no_safety_line_either(text: str) -> None:
    assert assess(text).verdict is Verdict.NONE
